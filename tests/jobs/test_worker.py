"""Real Redis, real `flask --app app worker` processes: exactly once, even when a worker dies."""

import os
import signal
from datetime import timedelta

import pytest
from redis import Redis

from cases.core.sqltypes import utcnow
from cases.enums import OutboxStatus
from cases.jobs.cli import Scheduler
from cases.jobs.outbox import enqueue_job, rq_enqueue, rq_job_id, rq_queue
from cases.jobs.registry import run_outbox_job
from tests.jobs.conftest import (
    JOB_MODULES,
    SHARED_REDIS,
    process_gone,
    relay,
    reloaded,
    wait_for,
)

pytestmark = pytest.mark.redis


@pytest.fixture
def config_overrides(redis_prefix) -> dict:
    return {"JOB_MODULES": JOB_MODULES, "REDIS_URL": SHARED_REDIS, "JOB_QUEUE_PREFIX": redis_prefix}


def test_a_committed_job_goes_to_its_queue_and_runs_exactly_once(app, session, effects, workers):
    outbox = enqueue_job(session, job="test_record", args={"label": "rq"})
    session.commit()
    reloaded(session, outbox)
    assert outbox.status == OutboxStatus.dispatched and outbox.dispatched_at is not None
    assert rq_queue(app, "notify").job_ids == [rq_job_id(app, outbox)]
    assert effects() == []
    rq_enqueue(app, "notify", run_outbox_job, outbox.id)  # a duplicate delivery

    output = workers.burst()
    assert output.count(f"completed cases.jobs.registry.run_outbox_job({outbox.id})") == 2
    assert "run_periodic('outbox_relay')" in output, "the worker fires the periodic relay"
    reloaded(session, outbox)
    assert (outbox.status, outbox.attempts) == (OutboxStatus.done, 0)
    assert effects() == [(outbox.id, "rq")]


def test_a_worker_killed_mid_job_leaves_nothing_and_the_job_later_runs_once(
    app, session, effects, workers, tmp_path
):
    hold = tmp_path / "hold"
    hold.touch()
    worker = workers.start()
    outbox = enqueue_job(session, job="test_record", args={"label": "survivor", "hold": str(hold)})
    session.commit()
    pid_file = tmp_path / "hold.pid"
    horse = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the job"))

    # The handler has written its effect and not committed: kill the worker and its work-horse.
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    os.kill(horse, signal.SIGKILL)
    pid_file.unlink()
    wait_for(lambda: process_gone(horse), what="the work-horse to die")
    hold.unlink()
    assert effects() == []
    reloaded(session, outbox)
    assert (outbox.status, outbox.done_at) == (OutboxStatus.dispatched, None)

    later = utcnow() + timedelta(seconds=app.config["OUTBOX_ACK_TIMEOUT"] + 1)
    # PostgreSQL releases the dead worker's row lock once it notices the closed connection.
    wait_for(lambda: relay(later), what="the relay to send the row again")
    workers.burst()
    reloaded(session, outbox)
    assert (outbox.status, outbox.attempts) == (OutboxStatus.done, 1)
    assert effects() == [(outbox.id, "survivor")]


def test_periodic_tasks_fire_once_per_interval_across_workers(app):
    connection = Redis.from_url(SHARED_REDIS)
    first, second = Scheduler(app, connection), Scheduler(app, connection)
    fired = first.tick()
    assert "outbox_relay" in fired
    assert "outbox_relay" not in second.tick(), "another worker holds the interval's lock"
    assert "outbox_relay" not in first.tick()
    queued = [job.func_name for job in rq_queue(app, "default").jobs]
    assert queued == ["cases.jobs.registry.run_periodic"] * len(fired)
