"""The log's background work: integrating pending events, and signing checkpoints (right after a
case closes, and periodically). Listed in JOB_MODULES.

Integration runs where the deployment has a place for it: with Redis, as a periodic task every
second on an RQ worker (one at a time: the scheduler's lock, then the log-head lock); on the
embedded default, right after each commit that appended, in the process that committed.
"""

import logging

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from cases.audit.signing import signer
from cases.core.db import session_scope
from cases.jobs.registry import job, periodic
from cases.models import Outbox
from cases.trail.checkpoints import sign_log_checkpoint
from cases.trail.store import APPENDED, integrate_log

log = logging.getLogger(__name__)


def _sign(session: Session) -> None:
    sign_log_checkpoint(session, signer=signer(), origin=current_app.config["TRAIL_ORIGIN"])


@job("sign_checkpoint")
def sign_checkpoint_job(session: Session, outbox: Outbox, **_args) -> None:
    """Sign the log right after a case closes, so its final state is covered at once."""
    _sign(session)


@periodic("sign_checkpoint", every_seconds=600)
def sign_checkpoint_periodically(session: Session) -> None:
    _sign(session)


@periodic("integrate_log", every_seconds=1)
def integrate_log_periodically(session: Session) -> None:
    integrate_log(session)


def _integrate_after_commit(session: OrmSession) -> None:
    if session.in_nested_transaction() or not session.info.pop(APPENDED, False):
        return
    if not has_app_context() or current_app.config["REDIS_URL"]:
        return  # outside the app (a script's own session), or a worker's periodic task does it
    try:
        with session_scope() as integrating:
            # An integrator already at work takes this commit's events or leaves them to the
            # next run; waiting for it would only queue this request behind it.
            integrate_log(integrating, wait=False)
            integrating.commit()
    except Exception:
        # The appender's commit stands; its events stay pending for the next integration.
        log.exception("integrating the log after a commit failed")


def _forget_rolled_back(session: OrmSession, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(APPENDED, None)


def init_app(app: Flask) -> None:
    for name, listener in (
        ("after_commit", _integrate_after_commit),
        ("after_transaction_end", _forget_rolled_back),
    ):
        if not event.contains(OrmSession, name, listener):
            event.listen(OrmSession, name, listener)
