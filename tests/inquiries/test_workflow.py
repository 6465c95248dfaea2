"""The `provider_inquiry` workflow and the rules of its kind: no appeal, no decision, nothing
restricted, and answered only through a transition guarded by a generated dossier."""

import pytest

from workflows import (
    KNOWN_GUARDS,
    KNOWN_JOBS,
    SHIPPED_DIR,
    SYSTEM,
    RoleNotAllowed,
    WorkflowKind,
    check_transition,
    check_workflow_text,
    load_workflows,
)
from workflows.model import DOSSIER_GENERATED

SHIPPED = load_workflows([SHIPPED_DIR], known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS)

INQUIRY = """\
name = "inquiry"
version = 1
label = "Inquiry"
kind = "inquiry"
restricted = false
initial = "received"

[states.received]
label = "Received"
stage = "intake"
queue = "inquiries"
sla = { p1 = 1, p2 = 2, p3 = 3, p4 = 4 }

[states.answered]
label = "Answered"
stage = "resolved"
terminal = true

[[transitions]]
name = "answer"
label = "Answer"
from = ["received"]
to = "answered"
roles = ["lead"]
requires = ["note"]
guards = ["dossier_generated"]
"""


def problems(text: str) -> list[str]:
    return check_workflow_text(text, known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS)


def test_the_shipped_inquiry_workflow():
    workflow = SHIPPED["provider_inquiry"]
    assert workflow.kind is WorkflowKind.inquiry and not workflow.restricted
    assert workflow.initial == "received" and workflow.states["received"].queue == (
        "provider_inquiries"
    )
    [answer] = workflow.transitions
    assert answer.guards == (DOSSIER_GENERATED,) and answer.requires == ("note",)
    assert answer.to == "answered" and workflow.states["answered"].terminal
    for role in ("lead", "admin"):
        check_transition(
            workflow,
            state="received",
            transition="answer",
            actor_roles=[role],
            fields={"note": "x"},
        )
    for role in ("reviewer", "child_safety", "auditor", SYSTEM):
        with pytest.raises(RoleNotAllowed):
            check_transition(
                workflow, state="received", transition="answer", actor_roles=[role], fields={}
            )


def test_a_valid_inquiry_workflow_passes():
    assert problems(INQUIRY) == []


def test_an_inquiry_is_answered_only_with_a_dossier():
    found = problems(INQUIRY.replace('guards = ["dossier_generated"]\n', ""))
    assert any("reachable without a generated dossier: received → answered" in p for p in found)


def test_an_inquiry_is_not_restricted():
    text = INQUIRY.replace("restricted = false", "restricted = true").replace(
        'roles = ["lead"]', 'roles = ["admin"]'
    )
    assert any("must not be restricted" in p for p in problems(text))


def test_an_inquiry_decides_nothing():
    text = INQUIRY.replace('requires = ["note"]', 'requires = ["note"]\ndecides = "dismissal"')
    assert any("records no decision" in p for p in problems(text))


def test_an_inquiry_has_no_appeal():
    text = INQUIRY.replace('stage = "intake"', 'stage = "appeal"')
    assert any("has no appeal stage" in p for p in problems(text))


def test_workflows_check_accepts_the_shipped_definitions(runner):
    result = runner.invoke(args=["workflows", "check"])
    assert result.exit_code == 0, result.output
