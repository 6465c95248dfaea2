"""The child-safety workflow around the report: a case closes only through a finished report or
a no-report decision a second specialist approved (the engine refuses anything else), and a case
overdue for its report escalates."""

from datetime import timedelta

import pytest

from cases.core.sqltypes import utcnow
from cases.enums import EventType
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import (
    AwaitingApproval,
    GuardRefused,
    sweep,
    transition_case,
)
from cases.trail.store import append_event
from tests.helpers import reloaded
from workflows import (
    KNOWN_GUARDS,
    KNOWN_JOBS,
    SHIPPED_DIR,
    DefinitionError,
    TransitionNotAvailable,
    TransitionRefused,
    parse_workflow,
)

SYSTEM = Actor.system("test")


def test_the_engine_refuses_to_close_without_a_finished_report(
    app, session, child_case, drafted, staff
):
    case, specialist = drafted(child_case())
    actor = Actor.staff(specialist)
    for closing in ("close_reported", "close_no_report"):
        with pytest.raises(TransitionNotAvailable):
            transition_case(session, case=case, transition=closing, actor=actor)
    transition_case(session, case=case, transition="submit_report", actor=actor)
    # The system's own finishing transition is refused without NCMEC's finish on record…
    with pytest.raises(GuardRefused, match="no finished CyberTipline report"):
        transition_case(
            session,
            case=case,
            transition="record_report_finished",
            actor=SYSTEM,
            fields={"ncmec_report_id": "4564654"},
        )
    # …and no staff member may fire it at all.
    with pytest.raises(TransitionRefused):
        transition_case(
            session,
            case=case,
            transition="record_report_finished",
            actor=actor,
            fields={"ncmec_report_id": "4564654"},
        )
    session.rollback()
    assert reloaded(session, case).state == "report_drafted"


def test_a_finished_report_on_record_lets_the_case_move_on(session, child_case, drafted):
    case, specialist = drafted(child_case())
    transition_case(session, case=case, transition="submit_report", actor=Actor.staff(specialist))
    append_event(session, case=case, type=EventType.ncmec_report_finished, actor="system:test")
    transition_case(
        session,
        case=case,
        transition="record_report_finished",
        actor=SYSTEM,
        fields={"ncmec_report_id": "4564654"},
    )
    session.commit()
    assert reloaded(session, case).state == "reported"


def test_a_shipped_child_safety_workflow_cannot_skip_the_report():
    """The loader refuses a child-safety workflow with a way to close past both gates."""
    source = (SHIPPED_DIR / "child_safety.toml").read_text()
    shortcut = source + (
        '\n[[transitions]]\nname = "close_quietly"\nlabel = "Close quietly"\n'
        'from = ["assessment"]\nto = "closed"\nroles = ["child_safety", "admin"]\n'
    )
    with pytest.raises(DefinitionError) as refused:
        parse_workflow(
            shortcut,
            source="child_safety.toml",
            known_guards=KNOWN_GUARDS,
            known_jobs=KNOWN_JOBS,
        )
    assert any("without a finished NCMEC report" in p for p in refused.value.problems)


def test_not_reporting_needs_a_second_specialist(session, child_case, take_up, staff):
    case = child_case()
    first = take_up(case, "first")
    reason = {"no_report_reason": "An adult in costume; the account holder's age is verified."}
    with pytest.raises(AwaitingApproval):
        transition_case(
            session,
            case=case,
            transition="decide_no_report",
            actor=Actor.staff(first),
            fields=reason,
        )
    session.commit()
    with pytest.raises(GuardRefused, match="second person"):
        transition_case(
            session,
            case=case,
            transition="decide_no_report",
            actor=Actor.staff(first),
            fields=reason,
        )
    session.rollback()
    assert reloaded(session, case).state == "assessment"

    second = staff("child_safety", "second")
    case.assignee_id = second.id  # the approver holds the case, as a reassignment would leave it
    session.add(case)
    transition_case(session, case=case, transition="decide_no_report", actor=Actor.staff(second))
    transition_case(
        session,
        case=case,
        transition="close_no_report",
        actor=Actor.staff(second),
        fields={"note": "Not reportable, second-approved."},
    )
    session.commit()
    assert reloaded(session, case).state == "closed"


def test_an_overdue_report_escalates_and_a_specialist_takes_it_up_again(
    session, child_case, drafted
):
    case, specialist = drafted(child_case())
    assert reloaded(session, case).sla_due_at is not None
    later = utcnow() + timedelta(hours=13)  # past every priority's drafting target
    sweep(session, now=later)
    session.commit()
    assert reloaded(session, case).state == "escalated"
    assert case.stage == "escalation" and case.queue == "child_safety"

    transition_case(
        session,
        case=case,
        transition="resume_report",
        actor=Actor.staff(specialist),
        fields={"note": "Back on it."},
    )
    session.commit()
    assert reloaded(session, case).state == "report_drafted"


def test_a_submitted_report_is_not_escalated_while_the_job_works(
    app, session, fake, child_case, drafted
):
    case, specialist = drafted(child_case())
    fake.fail_next("submit", 1000)
    transition_case(session, case=case, transition="submit_report", actor=Actor.staff(specialist))
    session.commit()
    sweep(session, now=utcnow() + timedelta(hours=13))
    session.commit()
    assert reloaded(session, case).state == "report_submitted" and case.sla_breached
