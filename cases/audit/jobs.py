"""Checkpoint signing: right after a case closes, and periodically. Listed in JOB_MODULES."""

from flask import current_app
from sqlmodel import Session

from cases.audit.signing import signer
from cases.jobs.registry import job, periodic
from cases.models import Outbox
from cases.trail.checkpoints import sign_log_checkpoint


def _sign(session: Session) -> None:
    sign_log_checkpoint(session, signer=signer(), origin=current_app.config["TRAIL_ORIGIN"])


@job("sign_checkpoint")
def sign_checkpoint_job(session: Session, outbox: Outbox, **_args) -> None:
    """Sign the log right after a case closes, so its final state is covered at once."""
    _sign(session)


@periodic("sign_checkpoint", every_seconds=600)
def sign_checkpoint_periodically(session: Session) -> None:
    _sign(session)
