"""`flask --app app worker` and `flask --app app jobs …`: where outbox jobs and periodic tasks run.

With `REDIS_URL`, `worker` is an RQ worker on the named queues (JSON serializer) inside the app
context. Each job runs in a forked work-horse, which starts with a fresh database pool
(`cases.core.db` disposes the parent's in the child). A scheduler thread enqueues each due periodic
task on the `default` queue; a Redis key set with NX and an expiry of one interval lets only one
of several workers fire it. Without `REDIS_URL`, jobs already run in-process after each commit,
and `worker` runs only the periodic tasks, in the foreground.
"""

import logging
import os
import socket
import threading
import time
import uuid

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from redis import Redis
from rq import Worker
from rq.serializers import JSONSerializer

from cases.core.db import session_scope
from cases.jobs.outbox import relay_outbox, rq_enqueue, rq_queue
from cases.jobs.registry import QUEUES, get_periodic, periodic_tasks, run_periodic

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0


class Scheduler:
    """Fires due periodic tasks: enqueued under a Redis lock, or run here when there is no Redis."""

    def __init__(self, app: Flask, connection: Redis | None):
        self.app = app
        self.connection = connection
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._next_run: dict[str, float] = {}
        self._stopping = threading.Event()

    def tick(self) -> list[str]:
        """Fire every task whose interval has passed; returns the names fired."""
        fired = []
        for task, seconds in periodic_tasks(self.app.config):
            try:
                if self._claim(task.name, seconds):
                    self._fire(task.name)
                    fired.append(task.name)
            except Exception:
                log.exception("periodic task %s could not be fired", task.name)
        return fired

    def _claim(self, name: str, seconds: int) -> bool:
        if self.connection is None:
            now = time.monotonic()
            if self._next_run.get(name, 0.0) > now:
                return False
            self._next_run[name] = now + seconds
            return True
        # The key lives one interval, so whichever worker sets it fires the task for that interval.
        key = f"{self.app.config['JOB_QUEUE_PREFIX']}docket:periodic:{name}"
        return bool(self.connection.set(key, self.owner, nx=True, ex=seconds))

    def _fire(self, name: str) -> None:
        if self.connection is None:
            run_periodic(name)
        else:
            rq_enqueue(self.app, "default", run_periodic, name, connection=self.connection)

    def serve(self) -> None:
        """Tick until `stop()` is called."""
        while True:
            self.tick()
            if self._stopping.wait(TICK_SECONDS):
                return

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve, name="docket-scheduler", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stopping.set()


def parse_queues(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    if not names or unknown:
        raise click.BadParameter(f"choose from {', '.join(QUEUES)}; unknown: {', '.join(unknown)}")
    return names


@click.command("worker")
@click.option(
    "--queues",
    default=",".join(QUEUES),
    show_default=True,
    help="Comma-separated queues to work, in priority order.",
)
@click.option("--burst", is_flag=True, help="Fire due periodic tasks, drain the queues, exit.")
def worker_command(queues: str, burst: bool) -> None:
    """Run outbox jobs from Redis and fire the periodic tasks (the relay, sweeps, signing)."""
    names = parse_queues(queues)
    app = current_app._get_current_object()
    if not app.config["REDIS_URL"]:
        click.echo("No REDIS_URL: jobs run in-process after commit; running periodic tasks only.")
        scheduler = Scheduler(app, None)
        if burst:
            scheduler.tick()
        else:
            scheduler.serve()
        return
    # A client of its own: RQ raises its socket timeout to cover the blocking pop.
    connection = Redis.from_url(app.config["REDIS_URL"])
    scheduler = Scheduler(app, connection)
    worker = Worker(
        [rq_queue(app, name, connection) for name in names],
        name=app.config["JOB_QUEUE_PREFIX"] + uuid.uuid4().hex,
        connection=connection,
        serializer=JSONSerializer,
    )
    if burst:
        scheduler.tick()
        worker.work(burst=True)
        return
    scheduler.start()
    try:
        worker.work()
    finally:
        scheduler.stop()


jobs_cli = AppGroup("jobs", help="Outbox jobs and periodic tasks.")


@jobs_cli.command("relay")
def jobs_relay() -> None:
    """Dispatch due and unacknowledged outbox rows now."""
    with session_scope() as session:
        count = relay_outbox(session)
        session.commit()
    click.echo(f"dispatched {count} outbox rows")


@jobs_cli.command("run-periodic")
@click.argument("names", nargs=-1)
def jobs_run_periodic(names: tuple[str, ...]) -> None:
    """Run periodic tasks in this process now (default: every enabled one), e.g. from cron."""
    try:
        tasks = [get_periodic(name) for name in names]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    for task in tasks or [task for task, _ in periodic_tasks(current_app.config)]:
        run_periodic(task.name)
        click.echo(f"ran {task.name}")


def init_app(app: Flask) -> None:
    app.cli.add_command(worker_command)
    app.cli.add_command(jobs_cli)
