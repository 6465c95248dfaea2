"""A Redis outage loses nothing: the commit stands, and the relay sends the job when Redis is back,
including a job that Redis itself lost."""

import logging
from datetime import timedelta

import pytest

from cases.core.sqltypes import utcnow
from cases.enums import OutboxStatus
from cases.jobs.outbox import enqueue_job
from tests.jobs.conftest import JOB_MODULES, relay, reloaded

pytestmark = pytest.mark.redis


@pytest.fixture
def config_overrides(private_redis) -> dict:
    return {"JOB_MODULES": JOB_MODULES, "REDIS_URL": private_redis.url}


def test_jobs_survive_a_redis_outage(app, session, effects, workers, private_redis, caplog):
    private_redis.start()
    lost = enqueue_job(session, job="test_record", args={"label": "lost with redis"})
    session.commit()
    assert reloaded(session, lost).status == OutboxStatus.dispatched
    private_redis.stop()  # SHUTDOWN NOSAVE: the queued job is gone with it

    during = enqueue_job(session, job="test_record", args={"label": "during the outage"})
    with caplog.at_level(logging.WARNING, logger="cases.jobs.outbox"):
        session.commit()
    assert "Redis unavailable" in caplog.text
    reloaded(session, during)
    assert (during.status, during.dispatched_at) == (OutboxStatus.pending, None)

    private_redis.start()
    assert relay() == 1, "the pending row; the lost one is not yet past OUTBOX_ACK_TIMEOUT"
    assert reloaded(session, during).status == OutboxStatus.dispatched
    assert relay(utcnow() + timedelta(seconds=app.config["OUTBOX_ACK_TIMEOUT"] + 1)) == 1
    workers.burst()
    assert sorted(effects()) == [(lost.id, "lost with redis"), (during.id, "during the outage")]
    assert (reloaded(session, lost).status, lost.attempts) == (OutboxStatus.done, 1)
    assert (reloaded(session, during).status, during.attempts) == (OutboxStatus.done, 0)
