from datetime import timedelta

import pytest
from sqlmodel import select

from cases.core.sqltypes import utcnow
from cases.decisions.service import decide_case
from cases.enums import EventType
from cases.lifecycle import transitions
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import (
    AwaitingApproval,
    GuardRefused,
    allowed_transitions,
    transition_case,
)
from cases.models import Case, Decision, Outbox, PendingApproval
from cases.review.claims import claim_case, release_case
from tests.casework import DECISION_FIELDS
from tests.helpers import events
from workflows import (
    KNOWN_GUARDS,
    KNOWN_JOBS,
    MissingFields,
    RoleNotAllowed,
    TransitionNotAvailable,
)


def test_every_known_guard_and_job_has_an_implementation(app):
    from cases.jobs.registry import get_job

    assert set(transitions.GUARDS) == set(KNOWN_GUARDS)
    for name in KNOWN_JOBS:
        assert get_job(name).name == name


def test_transition_changes_state_stage_queue_and_appends_the_event(open_case, actor, session):
    case = open_case()
    reviewer = actor("reviewer")
    event = transition_case(session, case=case, transition="start_triage", actor=reviewer)
    session.commit()
    session.refresh(case)
    assert (case.state, case.stage, case.queue) == ("triage", "triage", "triage")
    assert case.triage_at is not None
    assert event.type == EventType.transition and event.actor == reviewer.label
    payload = events(session, case)[-1]
    assert payload.seq == 2 and payload.type == "transition"


def test_refusals_change_nothing(open_case, actor, session):
    case = open_case()
    before = len(events(session, case))
    with pytest.raises(TransitionNotAvailable):
        transition_case(session, case=case, transition="decide", actor=actor("reviewer"))
    with pytest.raises(transitions.TransitionRefused, match="auditor role may not work"):
        transition_case(session, case=case, transition="start_triage", actor=actor("auditor"))
    with pytest.raises(RoleNotAllowed, match="only by: admin, lead, reviewer"):
        transition_case(session, case=case, transition="start_triage", actor=Actor.system("x"))
    transition_case(session, case=case, transition="start_triage", actor=actor("reviewer"))
    with pytest.raises(MissingFields, match="note"):
        transition_case(
            session,
            case=case,
            transition="escalate",
            actor=actor("reviewer"),
            fields={"note": "  "},
        )
    session.commit()
    assert len(events(session, case)) == before + 1


def test_guard_claimed_by_actor(open_case, actor, session):
    case = open_case()
    reviewer, other = actor("reviewer"), actor("reviewer", "other")
    transition_case(session, case=case, transition="start_triage", actor=reviewer)
    claim_case(session, case=case, actor=other)
    with pytest.raises(GuardRefused, match="claim the case first"):
        transition_case(
            session,
            case=case,
            transition="send_to_enforcement",
            actor=reviewer,
            fields={"policy_clause": "protect.threats"},
        )
    names = [t.name for t in allowed_transitions(session, case=case, actor=reviewer)]
    assert "send_to_enforcement" not in names
    offered = allowed_transitions(session, case=case, actor=other)
    assert "send_to_enforcement" in [t.name for t in offered]


def test_trail_failure_leaves_the_case_unchanged(open_case, actor, session, monkeypatch, app):
    case = open_case()

    def broken_append(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(transitions, "append_event", broken_append)
    with pytest.raises(RuntimeError, match="disk full"):
        transition_case(session, case=case, transition="start_triage", actor=actor("reviewer"))
    session.rollback()
    stored = session.get(Case, case.id)
    session.refresh(stored)
    assert stored.state == "new" and stored.triage_at is None
    assert session.exec(select(Outbox).where(Outbox.case_id == case.id)).all() == []


def test_jobs_are_written_to_the_outbox_with_the_transition(open_case, actor, session):
    case = open_case()
    reviewer = actor("reviewer")
    claim_case(session, case=case, actor=reviewer)
    transition_case(session, case=case, transition="start_triage", actor=reviewer)
    transition_case(
        session,
        case=case,
        transition="send_to_enforcement",
        actor=reviewer,
        fields={"policy_clause": "protect.threats"},
    )
    decision = decide_case(
        session, case=case, transition="decide", actor=reviewer, fields=DECISION_FIELDS
    )
    rows = session.exec(select(Outbox).where(Outbox.case_id == case.id)).all()
    decided = [r for r in rows if r.args.get("event_id") == decision.transition_event_id]
    assert {r.job for r in decided} == {
        "send_enforcement_webhook",
        "notify_affected_user",
        "notify_reporter",
    }


def test_appeal_review_is_never_by_the_decision_author(open_case, actor, session):
    case = open_case()
    author, colleague = actor("reviewer"), actor("reviewer", "colleague")
    case.state, case.stage, case.queue = "appeal", "appeal", "appeals"
    session.add(
        Decision(
            case_id=case.id,
            author_id=author.user_id,
            policy_clause="protect.threats",
            restriction="warn",
        )
    )
    session.commit()
    with pytest.raises(GuardRefused, match="author of a decision"):
        transition_case(session, case=case, transition="start_appeal_review", actor=author)
    transition_case(session, case=case, transition="start_appeal_review", actor=colleague)
    assert case.state == "appeal_review"


def test_closing_after_the_appeal_window_waits_six_months(open_case, actor, session):
    case = open_case()
    case.state, case.stage = "enforced", "enforcement"
    decided = utcnow()
    session.add(
        Decision(
            case_id=case.id, policy_clause="protect.threats", restriction="warn", decided_at=decided
        )
    )
    session.commit()
    system = Actor.system("test")
    with pytest.raises(GuardRefused, match="appeal window is open"):
        transition_case(
            session,
            case=case,
            transition="close_after_appeal_window",
            actor=system,
            now=decided + timedelta(days=182),
        )
    transition_case(
        session,
        case=case,
        transition="close_after_appeal_window",
        actor=system,
        now=decided + timedelta(days=184),
    )
    assert case.state == "closed" and case.stage == "resolved"


def test_a_no_report_decision_needs_a_second_specialist(open_case, actor, session):
    case = open_case("sexual/minors")
    assert case.workflow_name == "child_safety" and case.restricted
    first, second = actor("child_safety", "first"), actor("child_safety", "second")
    transition_case(session, case=case, transition="start_assessment", actor=first)
    claim_case(session, case=case, actor=first)
    fields = {"no_report_reason": "Adult content, age verified."}
    with pytest.raises(AwaitingApproval):
        transition_case(
            session, case=case, transition="decide_no_report", actor=first, fields=fields
        )
    session.commit()
    assert case.state == "assessment"
    assert len(events(session, case, EventType.approval_requested)) == 1
    with pytest.raises(GuardRefused, match="second person"):
        transition_case(
            session, case=case, transition="decide_no_report", actor=first, fields=fields
        )
    release_case(session, case=case, actor=first)
    claim_case(session, case=case, actor=second)
    transition_case(session, case=case, transition="decide_no_report", actor=second)
    session.commit()
    assert case.state == "no_report"
    assert session.exec(select(PendingApproval)).all() == []
    last = events(session, case)[-1]
    assert last.type == "transition"


@pytest.mark.parametrize("role", ["reviewer", "lead"])
def test_restricted_cases_cannot_be_worked_without_clearance(open_case, actor, session, role):
    case = open_case("sexual/minors")
    actor = actor(role)
    assert allowed_transitions(session, case=case, actor=actor) == []
    with pytest.raises(transitions.TransitionRefused, match="may not work this case"):
        transition_case(session, case=case, transition="start_assessment", actor=actor)


def test_cases_in_flight_keep_their_workflow_version(app, open_case, actor, session):
    from cases.lifecycle.deployed import EXTENSION, definitions
    from workflows import SHIPPED_DIR

    old = open_case(subject="before-change")
    custom = (SHIPPED_DIR / "standard.toml").read_text().replace("version = 2", "version = 3")
    custom = custom.replace('label = "Start triage"', 'label = "Begin triage (v2)"')
    folder = app.instance_path + "/workflows"
    import os

    os.makedirs(folder, exist_ok=True)
    with open(folder + "/standard.toml", "w") as handle:
        handle.write(custom)
    app.extensions.pop(EXTENSION)
    assert definitions().current("standard").version == 3
    new = open_case(subject="after-change")
    assert (old.workflow_version, new.workflow_version) == (2, 3)
    assert old.workflow_digest != new.workflow_digest
    reviewer = actor("reviewer")
    labels_old = [t.label for t in allowed_transitions(session, case=old, actor=reviewer)]
    labels_new = [t.label for t in allowed_transitions(session, case=new, actor=reviewer)]
    assert labels_old == ["Start triage"] and labels_new == ["Begin triage (v2)"]
    transition_case(session, case=old, transition="start_triage", actor=reviewer)
    assert old.state == "triage"
