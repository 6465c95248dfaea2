"""Submitting statements of reasons to the fake Transparency Database: batches of at most 100,
a puid the database already holds, throttling and server errors retried with backoff, refusals,
and the trail event written with each submission."""

import json
from datetime import timedelta

import pytest
from sqlmodel import col, select

from cases.core.sqltypes import utcnow
from cases.dsa import service as dsa_service
from cases.dsa.service import SUBMIT_JOB, statements_for_period
from cases.enums import DsaSubmissionStatus, EventType, OutboxStatus
from cases.jobs.outbox import relay_outbox
from cases.models import DsaStatement, Outbox
from cases.trail.models import CaseEvent, EventPayload
from tests.dsa.conftest import bulk_decisions
from tests.helpers import fresh


@pytest.fixture
def config_overrides(fake, transparency_url) -> dict:
    return {"DSA_TRANSPARENCY_URL": transparency_url, "DSA_TRANSPARENCY_TOKEN": fake.token}


def period_args() -> list[str]:
    today = utcnow().date()
    return ["--from", (today - timedelta(days=2)).isoformat(), "--to", today.isoformat()]


def submit(runner):
    result = runner.invoke(args=["dsa", "submit", *period_args()])
    assert result.exit_code == 0, result.output
    return result


def rows(session) -> list[DsaStatement]:
    fresh(session)
    return list(session.exec(select(DsaStatement).order_by(col(DsaStatement.id))))


def jobs(session) -> list[Outbox]:
    fresh(session)
    return list(session.exec(select(Outbox).where(Outbox.job == SUBMIT_JOB).order_by(Outbox.id)))


def submitted_events(session) -> list[tuple[int, dict]]:
    fresh(session)
    found = session.exec(
        select(CaseEvent.case_id, EventPayload.payload)
        .join(EventPayload, col(EventPayload.event_id) == CaseEvent.id)
        .where(CaseEvent.type == EventType.dsa_statement_submitted)
        .order_by(col(CaseEvent.id))
    ).all()
    return [(case_id, json.loads(payload)) for case_id, payload in found]


def run_due_jobs(session) -> None:
    """Run every pending job now, whatever backoff it waits on (a worker's relay, later)."""
    fresh(session)
    for outbox in session.exec(select(Outbox).where(Outbox.status == OutboxStatus.pending)):
        outbox.available_at = utcnow()
        session.add(outbox)
    session.commit()
    relay_outbox(session)
    session.commit()


def test_230_statements_go_in_batches_of_100_each_recorded_on_its_case(runner, session, fake):
    decisions = bulk_decisions(session, 230)
    result = submit(runner)
    assert "queued 230 statement(s) in 3 batch(es)" in result.output
    assert [(p.size, p.status) for p in fake.posts] == [(100, 201), (100, 201), (30, 201)]
    assert len(fake.statements) == 230
    assert all(job.status == OutboxStatus.done for job in jobs(session))
    stored = rows(session)
    assert {r.status for r in stored} == {DsaSubmissionStatus.submitted}
    assert all(r.submitted_at is not None and r.attempts == 1 for r in stored)
    assert {r.puid for r in stored} == set(fake.statements)

    recorded = submitted_events(session)
    assert sorted(case_id for case_id, _ in recorded) == sorted(d.case_id for d in decisions)
    by_puid = {payload["puid"]: payload for _, payload in recorded}
    assert set(by_puid) == set(fake.statements)
    sizes = sorted(p["batch_size"] for p in by_puid.values())
    assert sizes == [30] * 30 + [100] * 200
    assert {(p["http_status"], p["outcome"]) for p in by_puid.values()} == {(201, "created")}


def test_a_second_run_submits_nothing_again(runner, session, fake):
    bulk_decisions(session, 3)
    submit(runner)
    result = submit(runner)
    assert "queued 0 statement(s) in 0 batch(es); 3 already submitted" in result.output
    assert len(fake.posts) == 1 and len(submitted_events(session)) == 3


def test_a_puid_already_in_the_database_counts_as_submitted_and_the_rest_is_sent(
    runner, session, fake
):
    bulk_decisions(session, 3)
    now = utcnow()
    statements = statements_for_period(
        session, start=now - timedelta(days=1), end=now + timedelta(days=1)
    )
    # A run that was accepted but died before its commit: the database has the first statement.
    fake.statements[statements[0]["puid"]] = statements[0]
    submit(runner)
    assert [(p.size, p.status) for p in fake.posts] == [(3, 422), (2, 201)]
    assert fake.checks == [statements[0]["puid"]]
    assert {r.status for r in rows(session)} == {DsaSubmissionStatus.submitted}
    outcomes = {p["puid"]: (p["http_status"], p["outcome"]) for _, p in submitted_events(session)}
    assert outcomes == {
        statements[0]["puid"]: (422, "already_present"),
        statements[1]["puid"]: (201, "created"),
        statements[2]["puid"]: (201, "created"),
    }


def test_throttling_is_retried_with_backoff_then_succeeds(runner, session, fake):
    bulk_decisions(session, 5)
    fake.fail_next(429)
    submit(runner)
    (job,) = jobs(session)
    assert job.status == OutboxStatus.pending and job.attempts == 1
    assert job.available_at > utcnow() + timedelta(seconds=20)  # backoff, not a busy loop
    assert {r.status for r in rows(session)} == {DsaSubmissionStatus.pending}
    assert all("HTTP 429" in r.last_error for r in rows(session))
    assert submitted_events(session) == []

    run_due_jobs(session)
    assert [(p.size, p.status) for p in fake.posts] == [(5, 429), (5, 201)]
    assert jobs(session)[0].status == OutboxStatus.done
    assert all(
        r.status == DsaSubmissionStatus.submitted and r.attempts == 2 and r.last_error is None
        for r in rows(session)
    )
    assert len(submitted_events(session)) == 5


def test_server_errors_until_the_last_attempt_fail_the_batch(runner, session, fake):
    bulk_decisions(session, 2)
    fake.fail_next(503, 503)
    submit(runner)
    (job,) = jobs(session)
    job.max_attempts = 2
    session.add(job)
    session.commit()
    run_due_jobs(session)
    assert [p.status for p in fake.posts] == [503, 503]
    assert jobs(session)[0].status == OutboxStatus.failed
    assert all(
        r.status == DsaSubmissionStatus.failed and "HTTP 503" in r.last_error for r in rows(session)
    )
    # Queued again by the operator, they go through.
    result = submit(runner)
    assert "queued 2 statement(s)" in result.output
    assert fake.posts[-1].status == 201
    assert {r.status for r in rows(session)} == {DsaSubmissionStatus.submitted}


def test_a_refusal_marks_the_batch_failed_without_retrying(runner, session, fake):
    bulk_decisions(session, 2)
    fake.fail_next(422)
    submit(runner)
    assert jobs(session)[0].status == OutboxStatus.done  # nothing to wait out
    assert all(
        r.status == DsaSubmissionStatus.failed and r.last_error.startswith("HTTP 422")
        for r in rows(session)
    )
    assert fake.checks == [] and submitted_events(session) == []


def test_a_wrong_token_is_retried_not_lost(runner, session, fake, app):
    bulk_decisions(session, 1)
    app.config["DSA_TRANSPARENCY_TOKEN"] = "not-the-token"
    submit(runner)
    assert fake.posts == [] and fake.statements == {}
    (row,) = rows(session)
    assert row.status == DsaSubmissionStatus.pending and "HTTP 401" in row.last_error
    app.config["DSA_TRANSPARENCY_TOKEN"] = fake.token
    run_due_jobs(session)
    assert rows(session)[0].status == DsaSubmissionStatus.submitted


def test_the_database_unreachable_is_retried(runner, session, fake, app):
    bulk_decisions(session, 1)
    app.config["DSA_TRANSPARENCY_URL"] = "http://127.0.0.1:9"  # nothing listens there
    submit(runner)
    (row,) = rows(session)
    assert row.status == DsaSubmissionStatus.pending and "no answer" in row.last_error
    assert jobs(session)[0].attempts == 1


def test_the_trail_event_and_the_row_are_written_together(runner, session, fake, monkeypatch):
    bulk_decisions(session, 2)

    def broken(*_args, **_kwargs):
        raise RuntimeError("the trail is unavailable")

    monkeypatch.setattr(dsa_service, "append_events", broken)
    submit(runner)
    # The database took them, but nothing was recorded: the row is still pending, and the retry
    # finds them already there.
    assert {r.status for r in rows(session)} == {DsaSubmissionStatus.pending}
    assert submitted_events(session) == []
    monkeypatch.undo()
    run_due_jobs(session)
    assert {r.status for r in rows(session)} == {DsaSubmissionStatus.submitted}
    assert [p.status for p in fake.posts] == [201, 422] and len(fake.checks) == 2
    outcomes = {p["outcome"] for _, p in submitted_events(session)}
    assert outcomes == {"already_present"}


def test_submission_needs_its_settings(runner, session, app):
    bulk_decisions(session, 1)
    app.config["DSA_TRANSPARENCY_URL"] = ""
    result = runner.invoke(args=["dsa", "submit", *period_args()])
    assert result.exit_code == 1 and "DSA_TRANSPARENCY_URL is not set" in result.output
    assert rows(session) == [] and jobs(session) == []
    app.config["DSA_TRANSPARENCY_URL"] = "ftp://tdb.example"
    result = runner.invoke(args=["dsa", "submit", *period_args()])
    assert result.exit_code == 1 and "http(s) URL" in result.output
    app.config["DSA_TRANSPARENCY_URL"], app.config["DSA_TRANSPARENCY_TOKEN"] = "https://x", ""
    result = runner.invoke(args=["dsa", "submit", *period_args()])
    assert result.exit_code == 1 and "DSA_TRANSPARENCY_TOKEN is not set" in result.output
