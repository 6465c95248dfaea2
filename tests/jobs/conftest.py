"""Fixtures for the job tests: the test jobs' effect table, real Redis with a private key prefix,
private redis-server processes, and `flask worker` subprocesses — all cleaned up on failure too."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select

from cases.core.config import DEFAULTS
from cases.core.db import reading, session_scope
from cases.core.sqltypes import utcnow
from cases.enums import OutboxStatus
from cases.jobs.outbox import enqueue_job, relay_outbox
from cases.models import Outbox
from tests.jobs import sample_jobs

ROOT = Path(__file__).resolve().parents[2]
JOB_MODULES = [*DEFAULTS["JOB_MODULES"], "tests.jobs.sample_jobs"]
SHARED_REDIS = "redis://127.0.0.1:6379/0"
WORKER_TIMEOUT = 20


@pytest.fixture
def config_overrides() -> dict:
    return {"JOB_MODULES": JOB_MODULES}


@pytest.fixture(autouse=True)
def effects(app) -> Callable[[], list[tuple[int, str]]]:
    """What the test jobs committed, as (outbox id, label). Set up before `session` so that, on
    PostgreSQL, the table is dropped only after the test's session has closed."""
    engine = app.extensions["docket.db"]
    sample_jobs.effects.create(engine, checkfirst=True)
    table = sample_jobs.effects

    def committed() -> list[tuple[int, str]]:
        # A deferred BEGIN: reading must not wait for a worker holding SQLite's write lock.
        with reading(engine).connect() as connection:
            query = select(table.c.outbox_id, table.c.label).order_by(table.c.id)
            return [tuple(row) for row in connection.execute(query)]

    yield committed
    sample_jobs.effects.drop(engine, checkfirst=True)


def relay(now: datetime | None = None) -> int:
    """Run the relay once in its own transaction (inside the test's app context)."""
    with session_scope() as session:
        count = relay_outbox(session, now=now)
        session.commit()
    return count


def reloaded(session, outbox):
    """The row as committed now (on SQLite a read transaction keeps its first snapshot)."""
    session.rollback()
    session.refresh(outbox)
    return outbox


def fail_until_exhausted(session, *, failures: int = 5) -> Outbox:
    """A flaky job (3 attempts) relayed until it has failed for good."""
    outbox = enqueue_job(session, job="test_flaky", args={"label": "f", "failures": failures})
    session.commit()
    for _ in range(outbox.max_attempts - 1):
        relay(utcnow() + timedelta(hours=2))
    reloaded(session, outbox)
    assert outbox.status == OutboxStatus.failed
    return outbox


def wait_for(condition: Callable[[], object], *, timeout: float = 15, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def redis_answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1).ping())
    except RedisError:
        return False


def delete_prefixed(url: str, prefix: str) -> None:
    """Remove every Redis key, and every RQ registry entry, that a test created."""
    connection = Redis.from_url(url)
    for key in connection.scan_iter(match=f"*{prefix}*"):
        connection.delete(key)
    for registry in (b"rq:queues", b"rq:workers"):
        members = [m for m in connection.smembers(registry) if prefix.encode() in m]
        if members:
            connection.srem(registry, *members)


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of this test's own on the shared Redis (127.0.0.1:6379)."""
    if not redis_answers(SHARED_REDIS):
        pytest.skip("Redis is not answering on 127.0.0.1:6379")
    prefix = f"test-{uuid.uuid4().hex[:12]}-"
    yield prefix
    delete_prefixed(SHARED_REDIS, prefix)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own, started and stopped at will (no persistence)."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        options = {
            "port": self.port,
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "daemonize": "yes",
            "dir": self.directory,
            "pidfile": self.directory / "redis.pid",
        }
        subprocess.run(
            [
                "redis-server",
                *(part for item in options.items() for part in (f"--{item[0]}", str(item[1]))),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wait_for(lambda: redis_answers(self.url), timeout=10, what="redis-server to answer")

    def stop(self) -> None:
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "shutdown", "nosave"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: not redis_answers(self.url), timeout=10, what="redis-server to stop")


@pytest.fixture
def private_redis(tmp_path) -> RedisServer:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    yield server
    server.stop()


class Workers:
    """`flask --app app worker` subprocesses on the test's database and Redis."""

    def __init__(self, app, tmp_path: Path):
        self.app = app
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        config = self.app.config
        env = {
            **os.environ,
            "DATABASE_URL": config["DATABASE_URL"],
            "DOCKET_INSTANCE_PATH": str(self.tmp_path / "instance"),
            "SECRET_KEY": config["SECRET_KEY"],
            "REDIS_URL": config["REDIS_URL"],
            "FLASK_JOB_MODULES": json.dumps(config["JOB_MODULES"]),
            "FLASK_JOB_QUEUE_PREFIX": config["JOB_QUEUE_PREFIX"],
        }
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "worker", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a test can kill it whole
        )
        log.close()
        self.procs.append(proc)
        return proc

    def output(self, proc: subprocess.Popen) -> str:
        return (self.tmp_path / f"worker-{self.procs.index(proc)}.log").read_text()

    def burst(self) -> str:
        """Run a worker until the queues are empty; its output."""
        proc = self.start("--burst")
        proc.wait(timeout=WORKER_TIMEOUT)
        assert proc.returncode == 0, self.output(proc)
        return self.output(proc)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # Work-horses run in process groups of their own; a held job leaves its pid behind.
        for pid_file in self.tmp_path.glob("*.pid"):
            pid = int(pid_file.read_text() or 0)
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                if pid and b"flask" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def workers(app, tmp_path, effects) -> Workers:
    running = Workers(app, tmp_path)
    yield running
    running.kill_all()


def process_gone(pid: int) -> bool:
    """Whether `pid` has exited (a zombie counts: its files and sockets are already closed)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"
