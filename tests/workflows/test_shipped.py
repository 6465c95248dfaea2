"""The shipped workflows: they load, and each role may fire exactly the transitions designed."""

import pytest

from workflows import (
    KNOWN_GUARDS,
    KNOWN_JOBS,
    SHIPPED_DIR,
    SYSTEM,
    MissingFields,
    RoleNotAllowed,
    WorkflowKind,
    available_transitions,
    check_transition,
    load_workflows,
    sla_hours,
)

WORKFLOWS = load_workflows([SHIPPED_DIR], known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS)

ADMIN, LEAD, REVIEWER, CHILD_SAFETY, AUDITOR = (
    "admin",
    "lead",
    "reviewer",
    "child_safety",
    "auditor",
)
ACTORS = (ADMIN, LEAD, REVIEWER, CHILD_SAFETY, AUDITOR, SYSTEM)
CASEWORKERS = {REVIEWER, LEAD, ADMIN}
LEADS = {LEAD, ADMIN}
SPECIALISTS = {CHILD_SAFETY, ADMIN}

# Who may fire each transition, written out as designed; every other actor is refused.
# Auditors appear nowhere: they never change a case.
MATRIX = {
    "standard": {
        "start_triage": CASEWORKERS,
        "request_information": CASEWORKERS,
        "information_received": {SYSTEM},
        "resume_triage": CASEWORKERS,
        "dismiss": CASEWORKERS,
        "send_to_enforcement": CASEWORKERS,
        "escalate": CASEWORKERS,
        "escalate_on_sla_breach": {SYSTEM},
        "send_back_to_triage": LEADS,
        "send_back_to_enforcement": LEADS,
        "decide": CASEWORKERS,
        "file_appeal": {SYSTEM},
        "close_after_appeal_window": {SYSTEM},
        "start_appeal_review": CASEWORKERS,
        "omit_appeal": CASEWORKERS,
        "uphold": CASEWORKERS,
        "partially_reverse": CASEWORKERS,
        "reverse": CASEWORKERS,
        "reopen_for_decision": CASEWORKERS,
        "close": CASEWORKERS,
    },
    "child_safety": {
        "start_assessment": SPECIALISTS,
        "draft_report": SPECIALISTS,
        "abandon_draft": SPECIALISTS,
        "submit_report": SPECIALISTS,
        "record_report_finished": {SYSTEM},
        "redraft_report": SPECIALISTS,
        "decide_no_report": SPECIALISTS,
        "close_reported": SPECIALISTS,
        "close_no_report": SPECIALISTS,
        "escalate_overdue": {SYSTEM},
        "resume_assessment": SPECIALISTS,
        "resume_report": SPECIALISTS,
    },
}


def test_the_shipped_workflows_load():
    assert set(WORKFLOWS) == {"standard", "child_safety", "provider_inquiry"}


@pytest.mark.parametrize("name", MATRIX)
def test_the_matrix_covers_every_transition(name):
    assert [t.name for t in WORKFLOWS[name].transitions] == list(MATRIX[name])


@pytest.mark.parametrize(
    ("workflow", "transition", "actor", "allowed"),
    [
        (workflow, transition, actor, actor in allowed)
        for workflow, rows in MATRIX.items()
        for transition, allowed in rows.items()
        for actor in ACTORS
    ],
)
def test_role_may_fire_transition(workflow, transition, actor, allowed):
    definition = WORKFLOWS[workflow]
    found = next(t for t in definition.transitions if t.name == transition)
    state = found.sources[0]
    fields = {f: "filled in" for f in found.requires}
    offered = available_transitions(definition, state, [actor])
    if allowed:
        assert (
            check_transition(
                definition, state=state, transition=transition, actor_roles=[actor], fields=fields
            )
            is found
        )
        assert found in offered
    else:
        with pytest.raises(RoleNotAllowed):
            check_transition(
                definition, state=state, transition=transition, actor_roles=[actor], fields=fields
            )
        assert found not in offered


def transition(workflow, name):
    return next(t for t in WORKFLOWS[workflow].transitions if t.name == name)


def test_standard_decisions_carry_a_statement_of_reasons():
    assert set(transition("standard", "decide").requires) == {
        "policy_clause",
        "restriction",
        "statement_of_reasons",
        "territorial_scope",
    }
    for outcome in ("uphold", "partially_reverse", "reverse"):
        assert {"appeal_outcome", "statement_of_reasons"} <= set(
            transition("standard", outcome).requires
        )
        assert "not_decision_author" in transition("standard", outcome).guards
    assert transition("standard", "close_after_appeal_window").guards == ("appeal_window_closed",)


def test_child_safety_is_restricted_and_gated():
    workflow = WORKFLOWS["child_safety"]
    assert workflow.restricted and workflow.kind is WorkflowKind.child_safety
    assert {s.queue for s in workflow.states.values() if not s.terminal} == {"child_safety"}
    finished = transition("child_safety", "record_report_finished")
    assert finished.guards == ("ncmec_report_finished",)
    assert "place_preservation_hold" in finished.jobs
    no_report = transition("child_safety", "decide_no_report")
    assert no_report.second_approval and "no_report_approved" in no_report.guards
    assert not WORKFLOWS["standard"].restricted


def test_sla_applies_only_where_staff_work():
    standard = WORKFLOWS["standard"]
    assert sla_hours(standard, "new", "p1") == 1
    for idle in ("awaiting_information", "enforced", "dismissed", "closed"):
        assert sla_hours(standard, idle, "p1") is None
    child_safety = WORKFLOWS["child_safety"]
    # A submitted report must be finished well within NCMEC's 24 hours.
    assert max(child_safety.states["report_submitted"].sla.values()) < 24


def test_a_decision_lists_every_missing_field():
    with pytest.raises(MissingFields) as refused:
        check_transition(
            WORKFLOWS["standard"],
            state="enforcement",
            transition="decide",
            actor_roles=[REVIEWER],
            fields={"policy_clause": "protect.threats", "statement_of_reasons": "  "},
        )
    assert refused.value.fields == ["restriction", "statement_of_reasons", "territorial_scope"]
    assert str(refused.value) == (
        "'Decide and enforce' needs: restriction, statement_of_reasons, territorial_scope."
    )
