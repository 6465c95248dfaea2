"""Docket's workflow engine and definitions: pure Python (no Flask, no database).

``model`` holds the vocabulary (roles, stages, priority bands, required fields, decision kinds)
and the validated definitions; ``parser`` and ``validation`` read and check TOML definitions;
``engine`` decides whether a transition may fire; ``graph`` draws a workflow; ``policy`` loads the
policy taxonomy. Format: ``workflows/README.md``.
"""

from workflows.engine import (
    available_transitions,
    check_transition,
    get_state,
    get_transition,
    sla_hours,
)
from workflows.graph import to_dot, to_mermaid
from workflows.model import (
    DECISION_FIELDS,
    KNOWN_GUARDS,
    KNOWN_JOBS,
    MIN_APPEAL_WINDOW_DAYS,
    RESTRICTED_VIEWERS,
    SHIPPED_DIR,
    SYSTEM,
    AppealOutcome,
    DecisionKind,
    DefinitionError,
    MissingFields,
    PriorityBand,
    RequiredField,
    Role,
    RoleNotAllowed,
    Stage,
    State,
    Transition,
    TransitionNotAvailable,
    TransitionRefused,
    UnknownState,
    UnknownTransition,
    Workflow,
    WorkflowKind,
)
from workflows.parser import check_workflow_text, load_workflow, load_workflows, parse_workflow
from workflows.policy import (
    DSA_STATEMENT_CATEGORIES,
    SHIPPED_POLICY,
    Clause,
    ModerationCategory,
    Policy,
    PolicyGroup,
    load_policy,
    parse_policy,
)

__all__ = [
    "DSA_STATEMENT_CATEGORIES",
    "DECISION_FIELDS",
    "DecisionKind",
    "AppealOutcome",
    "MIN_APPEAL_WINDOW_DAYS",
    "Role",
    "Stage",
    "get_transition",
    "KNOWN_GUARDS",
    "KNOWN_JOBS",
    "RESTRICTED_VIEWERS",
    "SHIPPED_DIR",
    "SHIPPED_POLICY",
    "SYSTEM",
    "Clause",
    "DefinitionError",
    "MissingFields",
    "ModerationCategory",
    "Policy",
    "PolicyGroup",
    "PriorityBand",
    "RequiredField",
    "RoleNotAllowed",
    "State",
    "Transition",
    "TransitionNotAvailable",
    "TransitionRefused",
    "UnknownState",
    "UnknownTransition",
    "Workflow",
    "WorkflowKind",
    "available_transitions",
    "check_transition",
    "check_workflow_text",
    "get_state",
    "load_policy",
    "load_workflow",
    "load_workflows",
    "parse_policy",
    "parse_workflow",
    "sla_hours",
    "to_dot",
    "to_mermaid",
]
