"""Background jobs: the handler registry, the periodic-task registry and the job runner.

A side effect is an `Outbox` row written in the same transaction as the change that causes it
(`cases.outbox.enqueue_job`). After commit the row is dispatched to RQ, or run in-process when no
`REDIS_URL` is configured; both paths end in `run_outbox_job`, which runs the handler and marks the
row done in one transaction. A database effect and its acknowledgement are therefore atomic: a
worker killed mid-job leaves neither, and the relay dispatches the row again.

Handlers are registered with `@job(name, queue=..., max_attempts=...)` in a module listed in the
`JOB_MODULES` setting (imported by the web process and by every worker) and are called as
`handler(session, outbox, **outbox.args)`. They must not commit, and they must be safe to run
twice: a job whose external effect (an email, a webhook, an NCMEC submission) succeeded may still
be retried when the worker dies before its commit. Such handlers pass `outbox.id` as the
idempotency key of the external call, so the receiver (or the handler, by checking what it already
recorded) ignores the repeat.

A handler that raises rolls back everything it wrote; one that must keep a record of the failed
attempt (a webhook's answer, say) writes it and raises `AttemptFailed` instead.

Periodic tasks are registered with `@periodic(name, every_seconds=...)` and are called as
`task(session)`; like services they never commit (`run_periodic` commits once). The `worker`
command fires each at most once per interval across all workers; `PERIODIC_SECONDS` overrides
an interval (0 disables the task).
"""

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, select

from cases.core.db import session_scope
from cases.core.sqltypes import utcnow
from cases.enums import OutboxStatus
from cases.models import Outbox

log = logging.getLogger(__name__)

QUEUES = ("default", "notify", "ncmec", "webhooks")
FINISHED = (OutboxStatus.done, OutboxStatus.failed)
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
# The admin page shows the tail (the exception line); whole tracebacks would bloat the table.
MAX_ERROR_CHARS = 8000

Handler = Callable[..., None]
PeriodicFunc = Callable[[Session], object]


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Handler
    queue: str
    max_attempts: int


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    func: PeriodicFunc
    every_seconds: int


_jobs: dict[str, JobSpec] = {}
_periodic: dict[str, PeriodicTask] = {}


def _qualified(func: Callable) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def _register(registry: dict, entry: JobSpec | PeriodicTask) -> None:
    previous = registry.get(entry.name)
    # Re-importing a module re-registers the same function; two functions under one name is a bug.
    if previous and _qualified(previous.func) != _qualified(entry.func):
        raise ValueError(f"{entry.name!r} is already registered to {_qualified(previous.func)}")
    registry[entry.name] = entry


def job(name: str, *, queue: str = "default", max_attempts: int = 5):
    """Register `handler(session, outbox, **args)` as the job `name`."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; queues: {', '.join(QUEUES)}")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")

    def register(handler: Handler) -> Handler:
        _register(_jobs, JobSpec(name, handler, queue, max_attempts))
        return handler

    return register


def periodic(name: str, *, every_seconds: int):
    """Register `task(session)` to run every `every_seconds` (overridable by PERIODIC_SECONDS)."""

    def register(func: PeriodicFunc) -> PeriodicFunc:
        _register(_periodic, PeriodicTask(name, func, every_seconds))
        return func

    return register


def get_job(name: str) -> JobSpec:
    """The registration of job `name`; ValueError when no module registered it."""
    try:
        return _jobs[name]
    except KeyError:
        raise ValueError(f"unknown job {name!r}: no module in JOB_MODULES registers it") from None


def periodic_tasks(config) -> list[tuple[PeriodicTask, int]]:
    """Each enabled periodic task with its interval in seconds under `config`."""
    overrides = config["PERIODIC_SECONDS"]
    schedule = [(t, int(overrides.get(t.name, t.every_seconds))) for t in _periodic.values()]
    return [(task, seconds) for task, seconds in schedule if seconds > 0]


def get_periodic(name: str) -> PeriodicTask:
    """The periodic task `name`; ValueError when no module registered it."""
    try:
        return _periodic[name]
    except KeyError:
        raise ValueError(f"unknown periodic task {name!r}") from None


def run_periodic(name: str) -> None:
    """Run one periodic task in its own transaction (RQ entry point and `jobs run-periodic`)."""
    task = get_periodic(name)
    with session_scope() as session:
        task.func(session)
        session.commit()


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the `attempts`-th failure: 30 s, 60 s, 120 s … capped at 1 h."""
    return min(RETRY_BASE * 2 ** (attempts - 1), RETRY_CAP)


def _locked(session: Session, outbox_id: int) -> Outbox | None:
    # FOR UPDATE makes a second runner of the same row wait for the first and then see it done;
    # SQLite has no row locks, but its BEGIN IMMEDIATE serialises the runners just the same.
    return session.exec(select(Outbox).where(Outbox.id == outbox_id).with_for_update()).first()


class AttemptFailed(Exception):
    """Raised by a handler whose attempt failed after it recorded the attempt (say, an event with
    the receiver's answer): unlike any other exception, which rolls the handler's writes back, the
    runner commits them along with the counted failure, and retries with backoff as usual."""


def run_outbox_job(outbox_id: int) -> None:
    """Run an outbox row's handler and mark it done in the same transaction; no-op once done."""
    with session_scope() as session:
        outbox = _locked(session, outbox_id)
        if outbox is None or outbox.status in FINISHED:
            return
        try:
            get_job(outbox.job).func(session, outbox, **outbox.args)
            outbox.status = OutboxStatus.done
            outbox.done_at = utcnow()
            session.commit()
        except AttemptFailed as exc:
            # The handler's record of the failed attempt is kept, with the failure counted.
            log.warning("job %s (outbox %s) failed: %s", outbox.job, outbox_id, exc)
            _record_failure(session, outbox_id, exc)
            session.commit()
        except Exception as exc:
            session.rollback()
            log.warning("job %s (outbox %s) failed", outbox.job, outbox_id, exc_info=True)
            _record_failure(session, outbox_id, exc)
            session.commit()


def _record_failure(session: Session, outbox_id: int, exc: Exception) -> None:
    outbox = _locked(session, outbox_id)
    outbox.attempts += 1
    outbox.last_error = "".join(traceback.format_exception(exc))[-MAX_ERROR_CHARS:]
    if outbox.attempts >= outbox.max_attempts:
        outbox.status = OutboxStatus.failed
        log.error("job %s (outbox %s) failed for good", outbox.job, outbox_id)
    else:
        outbox.status = OutboxStatus.pending
        outbox.available_at = utcnow() + retry_delay(outbox.attempts)
