"""The outbox without Redis: jobs run in-process right after commit, through the same runner."""

import os
from datetime import timedelta

import pytest
from sqlalchemy import insert, text
from sqlmodel import select

from app import create_app
from cases.core.db import get_engine
from cases.core.security import PermissionDenied
from cases.core.sqltypes import utcnow
from cases.enums import OutboxStatus
from cases.jobs.outbox import enqueue_job, retry_job
from cases.jobs.registry import job, periodic, retry_delay, run_outbox_job
from cases.models import Outbox
from tests.factories import make_user
from tests.jobs.conftest import fail_until_exhausted, relay, reloaded


def committed_row(session, *, label: str, **values) -> Outbox:
    """A committed `test_record` row that was never dispatched: a Core insert bypasses the
    session events, as a crash right after the commit would."""
    result = session.execute(
        insert(Outbox).values(job="test_record", args={"label": label}, **values)
    )
    session.commit()
    return session.get(Outbox, result.inserted_primary_key[0])


def test_a_committed_job_runs_once_right_after_commit(session, effects):
    outbox = enqueue_job(session, job="test_record", args={"label": "sent"})
    assert outbox.id is not None and outbox.queue == "notify"
    assert effects() == [], "nothing may run before the commit"
    session.commit()
    assert effects() == [(outbox.id, "sent")]
    reloaded(session, outbox)
    assert (outbox.status, outbox.attempts) == (OutboxStatus.done, 0)
    assert outbox.done_at is not None

    session.commit()
    run_outbox_job(outbox.id)  # a duplicate delivery is acknowledged at once
    assert effects() == [(outbox.id, "sent")]


def test_a_rolled_back_transaction_runs_nothing(session, effects):
    enqueue_job(session, job="test_record", args={"label": "never"})
    session.rollback()
    make_user(session)
    session.commit()  # the forgotten row must not be dispatched by the next commit either
    assert effects() == []
    assert session.exec(select(Outbox)).all() == []


def test_a_rolled_back_savepoint_drops_only_its_own_jobs(session, effects):
    kept = enqueue_job(session, job="test_record", args={"label": "kept"})
    savepoint = session.begin_nested()
    enqueue_job(session, job="test_record", args={"label": "dropped"})
    savepoint.rollback()
    session.commit()
    assert effects() == [(kept.id, "kept")]


def test_unknown_jobs_are_refused(session):
    with pytest.raises(ValueError, match="unknown job 'no_such_job'"):
        enqueue_job(session, job="no_such_job", args={})


def test_registrations_are_checked():
    with pytest.raises(ValueError, match="unknown queue"):
        job("test_bad_queue", queue="email")
    with pytest.raises(ValueError, match="already registered"):
        job("test_record")(lambda session, outbox: None)
    with pytest.raises(ValueError, match="already registered"):
        periodic("outbox_relay", every_seconds=1)(lambda session: None)


def test_a_failing_job_backs_off_then_fails_for_good(session, effects):
    started = utcnow()
    outbox = enqueue_job(session, job="test_flaky", args={"label": "f", "failures": 5})
    session.commit()
    reloaded(session, outbox)
    assert (outbox.status, outbox.attempts) == (OutboxStatus.pending, 1)
    assert "RuntimeError: boom on attempt 1" in outbox.last_error
    first_retry = outbox.available_at - started
    assert retry_delay(1) <= first_retry < retry_delay(1) + timedelta(seconds=5)

    assert relay(started + timedelta(seconds=25)) == 0, "not due before its backoff"
    assert relay(started + timedelta(seconds=40)) == 1
    reloaded(session, outbox)
    assert outbox.attempts == 2
    assert outbox.available_at - utcnow() > retry_delay(2) - timedelta(seconds=5)

    assert relay(utcnow() + timedelta(hours=2)) == 1
    reloaded(session, outbox)
    assert (outbox.status, outbox.attempts) == (OutboxStatus.failed, 3)
    assert "boom on attempt 3" in outbox.last_error
    assert relay(utcnow() + timedelta(days=1)) == 0, "failed jobs wait for a person"
    assert effects() == [], "a failed attempt leaves no effect"


def test_attempt_failed_keeps_what_the_handler_recorded(session, effects):
    outbox = enqueue_job(session, job="test_recorded_failure", args={"label": "answer"})
    session.commit()
    reloaded(session, outbox)
    assert (outbox.status, outbox.attempts) == (OutboxStatus.pending, 1)
    assert "AttemptFailed: receiver refused attempt 1" in outbox.last_error
    assert relay(utcnow() + timedelta(hours=2)) == 1
    assert reloaded(session, outbox).status == OutboxStatus.failed
    assert effects() == [(outbox.id, "answer"), (outbox.id, "answer")]


def test_backoff_doubles_up_to_a_cap():
    delays = [retry_delay(n).total_seconds() for n in range(1, 10)]
    assert delays[:4] == [30, 60, 120, 240]
    assert max(delays) == 3600


def test_the_relay_resends_unacknowledged_rows_and_counts_the_lost_run(app, session, effects):
    # As if sent to a worker that died before its commit: nothing ran.
    outbox = committed_row(
        session, label="lost", status="dispatched", dispatched_at=utcnow() - timedelta(seconds=60)
    )

    assert relay() == 0, "still within OUTBOX_ACK_TIMEOUT"
    later = utcnow() + timedelta(seconds=app.config["OUTBOX_ACK_TIMEOUT"])
    assert relay(later) == 1
    reloaded(session, outbox)
    assert (outbox.status, outbox.attempts) == (OutboxStatus.done, 1)
    assert "not acknowledged" in outbox.last_error
    assert effects() == [(outbox.id, "lost")]


def test_lost_runs_exhaust_the_attempts(app, session, effects):
    outbox = committed_row(
        session,
        label="poison",
        status="dispatched",
        dispatched_at=utcnow() - timedelta(hours=1),
        attempts=4,
    )
    assert relay() == 0
    reloaded(session, outbox)
    assert (outbox.status, outbox.attempts) == (OutboxStatus.failed, outbox.max_attempts)
    assert effects() == []


def test_a_row_committed_but_never_dispatched_is_run_by_the_relay(session, effects):
    committed_row(session, label="orphan")
    assert effects() == []
    assert relay() == 1
    assert [label for _, label in effects()] == ["orphan"]


def test_retry_gives_a_failed_job_fresh_attempts(session, effects):
    outbox = fail_until_exhausted(session, failures=3)
    admin = make_user(session, role="admin")
    retry_job(session, outbox=outbox, actor=admin)
    assert effects() == [], "dispatched only after commit"
    session.commit()
    reloaded(session, outbox)
    assert (outbox.status, outbox.attempts, outbox.max_attempts) == (OutboxStatus.done, 3, 6)
    assert effects() == [(outbox.id, "f")]

    with pytest.raises(ValueError, match="only failed jobs"):
        retry_job(session, outbox=outbox, actor=admin)
    with pytest.raises(PermissionDenied):
        retry_job(session, outbox=outbox, actor=make_user(session, role="lead"))


def test_jobs_cli_runs_the_relay_and_periodic_tasks(runner, session, effects):
    committed_row(session, label="cli")
    result = runner.invoke(args=["jobs", "relay"])
    assert result.exit_code == 0, result.output
    assert "dispatched 1 outbox rows" in result.output
    assert [label for _, label in effects()] == ["cli"]

    result = runner.invoke(args=["jobs", "run-periodic", "outbox_relay"])
    assert result.exit_code == 0 and "ran outbox_relay" in result.output
    result = runner.invoke(args=["jobs", "run-periodic", "no_such_task"])
    assert result.exit_code == 2 and "unknown periodic task" in result.output


def test_worker_without_redis_runs_the_periodic_tasks(runner, session, effects):
    committed_row(session, label="embedded")
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert "running periodic tasks only" in result.output
    assert [label for _, label in effects()] == ["embedded"]


def test_the_queue_prefix_must_be_safe_for_rq_job_ids(database_url, tmp_path):
    with pytest.raises(ValueError, match="JOB_QUEUE_PREFIX"):
        create_app(
            {
                "DATABASE_URL": database_url,
                "INSTANCE_PATH": str(tmp_path / "other"),
                "REDIS_URL": "redis://127.0.0.1:6379/0",
                "JOB_QUEUE_PREFIX": "docket:",
            }
        )


def test_worker_refuses_unknown_queues(runner):
    result = runner.invoke(args=["worker", "--queues", "default,email", "--burst"])
    assert result.exit_code == 2 and "unknown: email" in result.output


@pytest.mark.postgres_only
def test_the_relay_skips_rows_another_transaction_holds(app, session):
    committed_row(session, label="held")
    with get_engine().connect() as holder:
        holder.execute(text("SELECT id FROM outbox FOR UPDATE"))
        assert relay() == 0
        holder.rollback()
    assert relay() == 1


def test_a_forked_child_gets_fresh_database_connections(app, session):
    engine = get_engine()
    with engine.connect() as connection:  # leaves a pooled connection for the child to inherit
        connection.execute(text("SELECT 1"))
    parent_pool = engine.pool
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT count(*) FROM outbox"))
            code = 0 if engine.pool is not parent_pool else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with engine.connect() as connection:  # the parent's pooled connection still works
        assert connection.execute(text("SELECT 1")).scalar() == 1
