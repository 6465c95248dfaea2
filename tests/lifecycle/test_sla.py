from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import select

from cases.lifecycle.sla import enter_state, sla_status
from cases.lifecycle.transitions import sweep, transition_case
from cases.trail.models import CaseEvent
from workflows import KNOWN_GUARDS, KNOWN_JOBS, SHIPPED_DIR, load_workflow

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STANDARD = load_workflow(
    SHIPPED_DIR / "standard.toml", known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS
)


class Case:
    """Just the SLA fields, to test the arithmetic without a database."""

    def __init__(self, state: str, band: str):
        self.state, self.priority_band = state, band
        self.sla_due_at = self.sla_paused_at = self.sla_remaining_seconds = None
        self.sla_breached = False


@pytest.mark.parametrize(
    ("state", "band", "hours"),
    [
        ("new", "p1", 1),
        ("new", "p4", 72),
        ("triage", "p2", 24),
        ("enforcement", "p3", 72),
        ("appeal", "p1", 24),
        ("escalated", "p2", 8),
    ],
)
def test_due_time_per_state_and_priority(state, band, hours):
    case = Case(state, band)
    enter_state(case, STANDARD, previous=None, now=T0)
    assert case.sla_due_at == T0 + timedelta(hours=hours)
    assert sla_status(case, now=T0) == ("due_soon" if hours <= 4 else "on_track")


def test_states_without_a_target_have_no_clock():
    case = Case("enforced", "p1")
    enter_state(case, STANDARD, previous="enforcement", now=T0)
    assert case.sla_due_at is None and sla_status(case, now=T0) == "none"


def test_the_clock_pauses_while_waiting_on_the_user_and_resumes_where_it_stopped():
    case = Case("triage", "p2")  # 24 h
    enter_state(case, STANDARD, previous="new", now=T0)
    case.state = "awaiting_information"
    enter_state(case, STANDARD, previous="triage", now=T0 + timedelta(hours=10))
    assert case.sla_due_at is None and sla_status(case, now=T0) == "paused"
    assert case.sla_remaining_seconds == 14 * 3600
    case.state = "triage"
    back = T0 + timedelta(days=3)
    enter_state(case, STANDARD, previous="awaiting_information", now=back)
    assert case.sla_due_at == back + timedelta(hours=14)
    assert case.sla_paused_at is None


def test_sweep_records_the_breach_and_escalates(open_case, actor, session):
    with time_machine.travel(T0, tick=False):
        case = open_case()
        transition_case(session, case=case, transition="start_triage", actor=actor("reviewer"))
        session.commit()
        due = case.sla_due_at
    assert sweep(session, now=due - timedelta(minutes=1)) == 0
    changed = sweep(session, now=due + timedelta(minutes=1))
    session.commit()
    assert changed == 2  # the breach, then the escalation the workflow asks for
    types = [
        e.type
        for e in session.exec(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
        )
    ]
    assert types[-2:] == ["sla_breached", "transition"]
    session.refresh(case)
    assert case.state == "escalated" and case.queue == "escalations"
    assert sweep(session, now=due + timedelta(minutes=2)) == 0


def test_sla_sweep_command(open_case, runner, session):
    case = open_case()
    case.sla_due_at = datetime.now(UTC) - timedelta(minutes=5)
    session.add(case)
    session.commit()
    result = runner.invoke(args=["sla", "sweep"])
    assert result.exit_code == 0, result.output
    assert "1 case(s) changed" in result.output
    session.refresh(case)
    assert case.sla_breached
