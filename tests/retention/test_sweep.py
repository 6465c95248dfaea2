"""Retention: when a case falls due (its clause's schedule, its appeals), `retention sweep` and the
daily job that erase what is due, skip and list held cases, and change nothing the second time."""

from datetime import timedelta

import pytest
import time_machine
from sqlmodel import select

from cases.child_safety.holds import place_hold_for_days
from cases.enums import EventType, HoldKind, OutboxStatus
from cases.jobs.registry import get_periodic, periodic_tasks, run_periodic
from cases.lifecycle.actors import Actor
from cases.lifecycle.deployed import definitions
from cases.models import Appeal, Case, Decision, Outbox, Report
from cases.retention import jobs, service
from cases.retention.service import due_for_erasure, retention_days, sweep
from cases.trail.models import EventPayload
from tests.helpers import count, events, fresh, reloaded
from tests.retention.conftest import AFTER_RETENTION

DAY = timedelta(days=1)


@pytest.fixture
def resolved(open_case, walk):
    """A case decided, appealed and upheld: resolved now, about subject `subject`."""

    def make(subject: str = "acct-1"):
        return walk(open_case(subject=subject), "upheld")

    return make


def due(session, at) -> list[str]:
    return [case.reference for case in due_for_erasure(fresh(session), now=at)]


def test_the_schedule_comes_from_the_clause(resolved, session):
    case = resolved()
    days = retention_days(definitions().policy, case.policy_clause)
    assert case.policy_clause == "protect.threats" and days == 730
    assert due(session, case.resolved_at + timedelta(days=days) - DAY) == []
    assert due(session, case.resolved_at + timedelta(days=days) + DAY) == [case.reference]


def test_a_case_not_yet_due_is_untouched(resolved, session):
    case = resolved()
    payloads = count(session, EventPayload)
    result = sweep(session, now=case.resolved_at + timedelta(days=729))
    session.commit()
    assert result.erased == [] and result.skipped == []
    assert reloaded(session, case).erased_at is None
    assert count(session, EventPayload) == payloads


def _longest(group: str | None) -> int:
    policy = definitions().policy
    groups = [g for g in policy.groups if group is None or g.id == group]
    return max(max([g.retention_days, *(c.retention_days for c in g.clauses)]) for g in groups)


@pytest.mark.parametrize(
    ("clause", "group"),
    [("protect.retired_clause", "protect"), ("nowhere.else", None), (None, None)],
    ids=["unknown-clause-of-a-group", "unknown-group", "no-clause"],
)
def test_an_unknown_clause_keeps_the_longest_retention_of_its_group_or_of_all(
    resolved, session, clause, group
):
    case = resolved()
    case.policy_clause = clause
    session.add(case)
    session.commit()
    days = _longest(group)
    assert retention_days(definitions().policy, clause) == days
    assert due(session, case.resolved_at + timedelta(days=days) - DAY) == []
    assert due(session, case.resolved_at + timedelta(days=days) + DAY) == [case.reference]


def test_not_before_the_last_decisions_appeal_window_has_closed(resolved, session):
    case = resolved()
    decision = session.exec(
        select(Decision).where(Decision.case_id == case.id).order_by(Decision.id.desc())
    ).first()
    # Informed late (a notice that took long to reach them): the window runs from then.
    decision.informed_at = case.resolved_at + timedelta(days=700)
    session.add(decision)
    session.commit()
    closes = decision.informed_at + timedelta(days=183)
    assert due(session, case.resolved_at + AFTER_RETENTION) == []
    assert due(session, closes - DAY) == [] and due(session, closes + DAY) == [case.reference]


def test_not_while_an_appeal_awaits_its_outcome(resolved, session):
    case = resolved()
    appeal = session.exec(select(Appeal).where(Appeal.case_id == case.id)).one()
    appeal.outcome = None
    session.add(appeal)
    session.commit()
    assert due(session, case.resolved_at + timedelta(days=3650)) == []


def test_the_command_erases_what_is_due_lists_held_cases_and_exits_0(
    resolved, session, runner, staff
):
    erasable, held = resolved("acct-1"), resolved("acct-2")
    hold = place_hold_for_days(
        session,
        case=held,
        kind=HoldKind.legal,
        days=1000,
        reason="Litigation",
        actor=Actor.staff(staff("lead", "holder")),
    )
    session.commit()
    with time_machine.travel(erasable.resolved_at + AFTER_RETENTION, tick=False):
        result = runner.invoke(args=["retention", "sweep"])
    assert result.exit_code == 0, result.output
    assert f"erased {erasable.reference}\n" in result.output
    assert (
        f"skipped {held.reference}: under a legal hold until {hold.until:%Y-%m-%d} "
        f"(hold {hold.id})" in result.output
    )
    assert "erased 1 case(s); skipped 1 under a hold" in result.output
    assert reloaded(session, erasable).erased_at is not None
    assert reloaded(session, held).erased_at is None
    report = session.exec(select(Report).where(Report.case_id == erasable.id)).one()
    assert report.raw_payload.startswith("[erased ") and "retention of 730 days ended" in (
        report.raw_payload
    )

    # A second run finds nothing new: the erased case is not erased again.
    before = len(events(session, erasable))
    with time_machine.travel(erasable.resolved_at + AFTER_RETENTION + DAY, tick=False):
        again = runner.invoke(args=["retention", "sweep"])
    assert again.exit_code == 0, again.output
    assert "erased 0 case(s); skipped 1 under a hold" in again.output
    assert len(events(session, erasable)) == before


def test_a_dry_run_lists_and_changes_nothing(resolved, session, runner):
    case = resolved()
    payloads = count(session, EventPayload)
    with time_machine.travel(case.resolved_at + AFTER_RETENTION, tick=False):
        result = runner.invoke(args=["retention", "sweep", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would erase {case.reference}" in result.output
    assert reloaded(session, case).erased_at is None
    assert count(session, EventPayload) == payloads


def test_one_failing_case_fails_alone(resolved, session, runner, monkeypatch):
    broken, fine = resolved("acct-1"), resolved("acct-2")
    real = service._erase_messages

    def failing(session, case, marker):
        if case.id == broken.id:
            raise RuntimeError("disk on fire")
        return real(session, case, marker)

    monkeypatch.setattr(service, "_erase_messages", failing)
    before = len(events(session, broken))
    with time_machine.travel(fine.resolved_at + AFTER_RETENTION, tick=False):
        result = runner.invoke(args=["retention", "sweep"])
    assert result.exit_code == 1
    assert f"failed {broken.reference}: RuntimeError: disk on fire" in result.output
    assert f"erased {fine.reference}" in result.output
    # The failed case's savepoint took back everything it had changed.
    assert reloaded(session, broken).erased_at is None
    assert len(events(session, broken)) == before
    report = session.exec(select(Report).where(Report.case_id == broken.id)).one()
    assert not report.raw_payload.startswith("[erased")


def test_a_case_erased_while_open_is_erased_again_once_resolved(open_case, walk, session, runner):
    case = open_case()
    result = runner.invoke(args=["trail", "erase", case.reference, "--reason", "request 3"])
    assert result.exit_code == 0, result.output
    walk(reloaded(session, case), "upheld")  # decided and appealed after the erasure
    assert due(session, case.resolved_at + AFTER_RETENTION) == [case.reference]
    sweep(fresh(session), now=case.resolved_at + AFTER_RETENTION)
    session.commit()
    appeal = fresh(session).exec(select(Appeal).where(Appeal.case_id == case.id)).one()
    assert appeal.grounds.startswith("[erased ") and "retention of" in appeal.grounds


def test_the_daily_job_is_registered(app):
    task = get_periodic("retention_sweep")
    assert task.every_seconds == 86400
    assert (task, 86400) in periodic_tasks(app.config)


def test_the_daily_job_erases_in_batches_of_its_own_then_purges(resolved, session, monkeypatch):
    monkeypatch.setattr(jobs, "SWEEP_BATCH", 1)
    cases = [resolved(f"acct-{n}") for n in range(3)]
    with time_machine.travel(cases[-1].resolved_at + AFTER_RETENTION, tick=False):
        run_periodic("retention_sweep")
    fresh(session)
    assert all(session.get(Case, c.id).erased_at is not None for c in cases)
    done = session.exec(select(Outbox).where(Outbox.status == OutboxStatus.done)).all()
    ran = [row.job for row in done]
    # The periodic task's batch, then a job per batch (the last finding none left), each case's
    # files, and one purge at the end.
    assert ran.count(jobs.BATCH_JOB) == 3 and ran.count(jobs.PURGE_JOB) == 1
    assert ran.count("retention_erase_files") == 3
    assert all([e.type for e in events(session, c)].count(EventType.erased) == 1 for c in cases)
