"""The outbox: side effects written with the change that causes them, dispatched after commit.

`enqueue_job` adds an `Outbox` row in the caller's transaction. Session events carry the new ids
from flush to commit: after the commit each row is sent to its RQ queue (`REDIS_URL` set) or run
in-process through the same runner (`cases.jobs.run_outbox_job`); after a rollback they are
forgotten. Nothing is lost when Redis is down or a worker dies: the row stays pending or
unacknowledged, and `relay_outbox` (a periodic task) dispatches it again.
"""

import importlib
import logging
import re
import threading
import uuid
from collections import deque
from datetime import datetime, timedelta

from flask import Flask, current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy import and_, event, or_
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from cases.core.db import session_scope
from cases.core.security import require_permission
from cases.core.sqltypes import utcnow
from cases.enums import OutboxStatus, Permission
from cases.jobs.registry import get_job, periodic, run_outbox_job
from cases.models import Outbox, User

log = logging.getLogger(__name__)

REDIS_EXTENSION = "docket.redis"
PENDING_IDS = "docket.outbox_ids"
OPEN = (OutboxStatus.pending, OutboxStatus.dispatched)
RELAY_BATCH = 500
# The outbox row is the record of a job; RQ's copy only needs to live until a worker takes it.
RQ_FAILURE_TTL = 7 * 24 * 3600
_PREFIX = re.compile(r"[A-Za-z0-9_-]*\Z")


def enqueue_job(session: Session, *, job: str, args: dict, case_id: int | None = None) -> Outbox:
    """Write job `job` to the outbox in the caller's transaction; it is dispatched after commit."""
    spec = get_job(job)
    outbox = Outbox(
        job=job, queue=spec.queue, args=args, case_id=case_id, max_attempts=spec.max_attempts
    )
    session.add(outbox)
    session.flush()  # handlers use the id as their idempotency key, so callers may need it now
    return outbox


def retry_job(session: Session, *, outbox: Outbox, actor: User) -> Outbox:
    """Give a failed job a fresh set of attempts; it is dispatched after commit."""
    require_permission(actor.role, Permission.view_jobs)
    if outbox.status != OutboxStatus.failed:
        raise ValueError(f"job {outbox.id} is {outbox.status}, only failed jobs can be retried")
    # Attempts keep counting (RQ job ids derive from them and must not repeat); the budget grows.
    outbox.max_attempts = outbox.attempts + get_job(outbox.job).max_attempts
    outbox.status = OutboxStatus.pending
    outbox.available_at = utcnow()
    log.info("%s retried job %s (outbox %s)", actor.email, outbox.job, outbox.id)
    _dispatch_after_commit(session, [outbox.id])
    return outbox


@periodic("outbox_relay", every_seconds=30)
def relay_outbox(session: Session, *, now: datetime | None = None) -> int:
    """Claim due and unacknowledged outbox rows for dispatch after commit; returns how many."""
    now = now or utcnow()
    ack_timeout = int(current_app.config["OUTBOX_ACK_TIMEOUT"])
    due = or_(
        and_(Outbox.status == OutboxStatus.pending, Outbox.available_at <= now),
        and_(
            Outbox.status == OutboxStatus.dispatched,
            Outbox.dispatched_at <= now - timedelta(seconds=ack_timeout),
        ),
    )
    # SKIP LOCKED: a row a runner holds is being worked on, and a second relay takes other rows.
    rows = session.exec(
        select(Outbox)
        .where(due)
        .order_by(Outbox.id)
        .limit(RELAY_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    claimed = []
    for outbox in rows:
        if outbox.status == OutboxStatus.dispatched:
            if _waiting_in_queue(outbox):
                continue  # a backlog, not a loss: sending it again would only add a duplicate
            # A lost run counts as an attempt, so a job that kills its worker cannot loop forever.
            outbox.attempts += 1
            outbox.last_error = f"not acknowledged within {ack_timeout} s of dispatch"
            if outbox.attempts >= outbox.max_attempts:
                outbox.status = OutboxStatus.failed
                continue
        # Claimed rows no longer match `due`, so a relay running after this commit skips them.
        outbox.status = OutboxStatus.dispatched
        outbox.dispatched_at = now
        claimed.append(outbox.id)
    _dispatch_after_commit(session, claimed)
    return len(claimed)


def redis_connection(app: Flask) -> Redis:
    """The app's Redis client for dispatching (short timeouts: a commit must not hang on it)."""
    if REDIS_EXTENSION not in app.extensions:
        app.extensions[REDIS_EXTENSION] = Redis.from_url(
            app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5
        )
    return app.extensions[REDIS_EXTENSION]


def rq_queue(app: Flask, name: str, connection: Redis | None = None) -> Queue:
    """The RQ queue `name` (under JOB_QUEUE_PREFIX) with the JSON serializer."""
    return Queue(
        app.config["JOB_QUEUE_PREFIX"] + name,
        connection=connection or redis_connection(app),
        serializer=JSONSerializer,
    )


def rq_enqueue(
    app: Flask, queue: str, func, *args, connection: Redis | None = None, **options
) -> Job:
    """Enqueue `func(*args)` on RQ queue `queue` with Docket's timeout and retention."""
    options.setdefault("job_id", app.config["JOB_QUEUE_PREFIX"] + uuid.uuid4().hex)
    return rq_queue(app, queue, connection).enqueue_call(
        func,
        args=args,
        timeout=int(app.config["JOB_TIMEOUT"]),
        result_ttl=0,
        failure_ttl=RQ_FAILURE_TTL,
        **options,
    )


def rq_job_id(app: Flask, outbox: Outbox) -> str:
    """The RQ job id of the row's current dispatch: a retry has another attempt, so another id."""
    return f"{app.config['JOB_QUEUE_PREFIX']}outbox-{outbox.id}-{outbox.attempts}"


def _waiting_in_queue(outbox: Outbox) -> bool:
    app = current_app._get_current_object()
    if not app.config["REDIS_URL"]:
        return False
    try:
        job = Job.fetch(
            rq_job_id(app, outbox), connection=redis_connection(app), serializer=JSONSerializer
        )
        return job.get_status() == JobStatus.QUEUED
    except (NoSuchJobError, RedisError):
        return False


def _send_to_rq(app: Flask, ids: list[int]) -> None:
    with session_scope() as session:
        # Locked until the rows say `dispatched`, so a fast worker cannot finish a job first and
        # then see its acknowledgement overwritten.
        rows = session.exec(
            select(Outbox)
            .where(Outbox.id.in_(ids), Outbox.status.in_(OPEN))
            .order_by(Outbox.id)
            .with_for_update()
        ).all()
        if not rows:
            return
        connection = redis_connection(app)
        try:
            with connection.pipeline() as pipe:
                for outbox in rows:
                    rq_enqueue(
                        app,
                        outbox.queue,
                        run_outbox_job,
                        outbox.id,
                        job_id=rq_job_id(app, outbox),
                        pipeline=pipe,
                    )
                pipe.execute()
        except RedisError as exc:
            log.warning("Redis unavailable; %d outbox rows left for the relay: %s", len(rows), exc)
            for outbox in rows:
                outbox.status = OutboxStatus.pending  # undo a relay's claim: nothing was sent
        else:
            now = utcnow()
            for outbox in rows:
                outbox.status = OutboxStatus.dispatched
                outbox.dispatched_at = now
        session.commit()


# Rows waiting to run in this thread while an in-process run is under way (see `_dispatch`).
_in_process = threading.local()


def _dispatch(ids: list[int]) -> None:
    app = current_app._get_current_object()
    if app.config["REDIS_URL"]:
        _send_to_rq(app, ids)
        return
    # A job that enqueues another (a chain of steps) commits inside its own run; running the new
    # job from that commit would nest one run in another, each holding its connection. The
    # outermost dispatch runs them one after another instead.
    waiting = getattr(_in_process, "waiting", None)
    if waiting is not None:
        waiting.extend(ids)
        return
    _in_process.waiting = deque(ids)
    try:
        while _in_process.waiting:
            run_outbox_job(_in_process.waiting.popleft())
    finally:
        _in_process.waiting = None


def _dispatch_after_commit(session: OrmSession, ids: list[int]) -> None:
    session.info.setdefault(PENDING_IDS, set()).update(ids)


def _track_new_rows(session: OrmSession, _flush_context) -> None:
    # In after_flush, `session.new` still lists what was just inserted, now with primary keys.
    ids = [obj.id for obj in session.new if isinstance(obj, Outbox)]
    if ids:
        _dispatch_after_commit(session, ids)


def _dispatch_committed(session: OrmSession) -> None:
    if session.in_nested_transaction():
        # A savepoint released: nothing is committed until the outermost transaction is (and the
        # in-process runner would wait on the write lock this very transaction holds).
        return
    ids = sorted(session.info.pop(PENDING_IDS, ()))
    if not ids:
        return
    if not has_app_context():
        log.warning("outbox rows %s committed outside an app context; left for the relay", ids)
        return
    try:
        _dispatch(ids)
    except Exception:
        # The caller's commit stands; the rows are still pending or unacknowledged for the relay.
        log.exception("dispatching outbox rows %s failed; the relay will retry", ids)


def _forget_uncommitted(session: OrmSession, transaction) -> None:
    # Ends every outermost transaction; after a commit the ids were already taken and dispatched.
    if transaction.parent is None:
        session.info.pop(PENDING_IDS, None)


def init_app(app: Flask) -> None:
    if app.config["REDIS_URL"] and not _PREFIX.match(app.config["JOB_QUEUE_PREFIX"]):
        raise ValueError("JOB_QUEUE_PREFIX may only hold letters, digits, '-' and '_'")
    for name in app.config["JOB_MODULES"]:
        importlib.import_module(name)
    for name, listener in (
        ("after_flush", _track_new_rows),
        ("after_commit", _dispatch_committed),
        ("after_transaction_end", _forget_uncommitted),
    ):
        if not event.contains(OrmSession, name, listener):
            event.listen(OrmSession, name, listener)
