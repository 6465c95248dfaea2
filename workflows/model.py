"""The workflow engine's vocabulary and its immutable model: roles, stages, priority bands, the
fields a transition may require, and the validated State, Transition and Workflow."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

SHIPPED_DIR: Final = Path(__file__).parent / "definitions"
# The policy taxonomy lives beside the shipped workflows but is not one.
POLICY_FILENAME: Final = "policy.toml"

SYSTEM: Final = "system"
"""The actor role the service passes when the system itself acts (a job, the public portal on an
end user's behalf). Never a staff role: transitions with ``roles = []`` are the system's alone."""

NCMEC_REPORT_FINISHED: Final = "ncmec_report_finished"
NO_REPORT_APPROVED: Final = "no_report_approved"
PLACE_PRESERVATION_HOLD: Final = "place_preservation_hold"
DOSSIER_GENERATED: Final = "dossier_generated"

KNOWN_GUARDS: Final = frozenset(
    {
        NCMEC_REPORT_FINISHED,
        NO_REPORT_APPROVED,
        DOSSIER_GENERATED,
        "appeal_window_closed",
        "not_decision_author",
        "claimed_by_actor",
        "sla_breached",
    }
)


KNOWN_JOBS: Final = frozenset(
    {
        "notify_affected_user",
        "notify_reporter",
        "send_enforcement_webhook",
        "submit_ncmec_report",
        PLACE_PRESERVATION_HOLD,
        "sign_checkpoint",
    }
)


class Role(StrEnum):
    """A staff member's role (one per account). Appellants and reporters have none."""

    admin = "admin"
    lead = "lead"
    reviewer = "reviewer"
    child_safety = "child_safety"
    auditor = "auditor"


class Stage(StrEnum):
    """The fixed phase every workflow state maps to (reports and queues group by it)."""

    intake = "intake"
    triage = "triage"
    enforcement = "enforcement"
    appeal = "appeal"
    escalation = "escalation"
    resolved = "resolved"


RESTRICTED_VIEWERS: Final = frozenset({Role.child_safety, Role.admin, Role.auditor})
"""Roles that may see a restricted (child-safety) case at all."""


class WorkflowKind(StrEnum):
    """What rules a workflow must satisfy beyond the common ones."""

    standard = "standard"
    child_safety = "child_safety"
    inquiry = "inquiry"
    """The operator answering the AI provider about its own compliance: no report, decision or
    appeal is ever part of it, and it is answered only once a dossier was generated."""


class PriorityBand(StrEnum):
    """A case's priority band; SLA targets are given per band (p1 is the most urgent)."""

    p1 = "p1"
    p2 = "p2"
    p3 = "p3"
    p4 = "p4"


class RequiredField(StrEnum):
    """The closed set of inputs a transition may demand from the actor."""

    policy_clause = "policy_clause"
    statement_of_reasons = "statement_of_reasons"
    restriction = "restriction"
    duration_days = "duration_days"
    territorial_scope = "territorial_scope"
    note = "note"
    question = "question"
    """Asked of the reporter and sent to them; unlike a note, not internal."""
    answer = "answer"
    """The reporter's answer to a question, from their private page."""
    appeal_outcome = "appeal_outcome"
    ncmec_report_id = "ncmec_report_id"
    no_report_reason = "no_report_reason"


class AppealOutcome(StrEnum):
    """How an appeal ends (``ends_appeal = …`` in the TOML); ``omitted``: not examined, e.g.
    withdrawn or inadmissible."""

    upheld = "upheld"
    partially_reversed = "partially_reversed"
    reversed = "reversed"
    omitted = "omitted"


MIN_APPEAL_WINDOW_DAYS: Final = 182
"""DSA Art. 20(1): an appeal stays open for at least six months after the person was informed."""
DEFAULT_APPEAL_WINDOW_DAYS: Final = 183


class DecisionKind(StrEnum):
    """What a deciding transition (``decides = …`` in the TOML) records, through the decision
    service only, so that no decision exists without its ``Decision`` row."""

    decision = "decision"
    """A first decision: clause, restriction, scope and statement of reasons from the fields."""
    partial_reversal = "partial_reversal"
    """An appeal that succeeds in part: a lesser restriction replaces the one under appeal."""
    reversal = "reversal"
    """An appeal that succeeds: the restriction is lifted (a ``no_action`` decision)."""
    dismissal = "dismissal"
    """A decision not to act on the reports: a ``no_action`` decision, so its author is known
    when a reporter appeals it (DSA Art. 20(1))."""


# The fields a transition that records each kind of decision must ask for.
DECISION_FIELDS: Final = {
    DecisionKind.decision: frozenset(
        {
            RequiredField.policy_clause,
            RequiredField.restriction,
            RequiredField.statement_of_reasons,
            RequiredField.territorial_scope,
        }
    ),
    DecisionKind.partial_reversal: frozenset(
        {RequiredField.restriction, RequiredField.statement_of_reasons}
    ),
    DecisionKind.reversal: frozenset({RequiredField.statement_of_reasons}),
    DecisionKind.dismissal: frozenset({RequiredField.note}),
}


@dataclass(frozen=True)
class State:
    """A place a case can be in; ``sla`` is empty where no SLA applies."""

    name: str
    label: str
    stage: Stage
    queue: str | None
    sla: Mapping[PriorityBand, int]
    terminal: bool
    waits_on_user: bool


@dataclass(frozen=True)
class Transition:
    """A named move between states, and who may make it with what."""

    name: str
    label: str
    sources: tuple[str, ...]
    """The states it can fire from (the file's ``from``, with ``"*"`` expanded)."""
    to: str
    roles: frozenset[Role]
    """Empty: only the system may fire it (see ``SYSTEM``)."""
    requires: tuple[RequiredField, ...]
    guards: tuple[str, ...]
    jobs: tuple[str, ...]
    second_approval: bool
    decides: DecisionKind | None
    """The decision it records, only ever through the decision service; ``None``: none."""
    files_appeal: bool
    """It moves a case into its appeal: fired only by the appeals service, which writes the
    ``Appeal`` with the appellant, the grounds and the window check in the same transaction."""
    ends_appeal: AppealOutcome | None
    """The outcome it records on the open appeal; ``None``: it ends none."""

    @property
    def system_only(self) -> bool:
        return not self.roles

    def allows(self, actor_roles: Collection[str]) -> bool:
        if self.system_only:
            return SYSTEM in actor_roles
        return not self.roles.isdisjoint(actor_roles)


@dataclass(frozen=True)
class Workflow:
    """One validated definition, exactly as loaded (a case records name, version and digest)."""

    name: str
    version: int
    label: str
    kind: WorkflowKind
    restricted: bool
    initial: str
    appeal_window_days: int
    """How long after the affected person was informed of a decision they may appeal it."""
    states: Mapping[str, State]
    transitions: tuple[Transition, ...]
    digest: str
    """Hex SHA-256 of the source bytes; cases record it with the name and version."""
    source: str

    @property
    def minimum_retention_days(self) -> int:
        """The appeal window plus the longest its review may take (every appeal-stage state's
        slowest SLA, in whole days): a case's personal data must outlive both."""
        review_hours = sum(
            max(state.sla.values(), default=0)
            for state in self.states.values()
            if state.stage == Stage.appeal
        )
        return self.appeal_window_days + -(-review_hours // 24)


class DefinitionError(ValueError):
    """A definition is invalid; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(["invalid definition:", *(f"- {p}" for p in self.problems)]))


class TransitionRefused(Exception):
    """The engine refused a transition; ``str()`` is a reason fit to show the actor."""


class UnknownState(TransitionRefused, LookupError):
    pass


class UnknownTransition(TransitionRefused):
    pass


class TransitionNotAvailable(TransitionRefused):
    pass


class RoleNotAllowed(TransitionRefused):
    pass


class MissingFields(TransitionRefused):
    def __init__(self, transition: Transition, fields: Sequence[str]) -> None:
        self.fields = list(fields)
        super().__init__(f"{transition.label!r} needs: {', '.join(self.fields)}.")
