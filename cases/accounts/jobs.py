"""Housekeeping of sign-in records. Listed in JOB_MODULES."""

import logging
from datetime import timedelta

from flask import current_app
from sqlmodel import Session

from cases.accounts.signin import prune_sign_in_records
from cases.jobs.registry import periodic

log = logging.getLogger(__name__)


@periodic("prune_sign_in_records", every_seconds=3600)
def prune_sign_ins(session: Session) -> None:
    config = current_app.config
    attempts, sessions = prune_sign_in_records(
        session,
        window=timedelta(seconds=int(config["LOGIN_THROTTLE_SECONDS"])),
        lifetime=timedelta(seconds=int(config["SESSION_LIFETIME_SECONDS"])),
    )
    log.info("pruned %s sign-in attempts and %s staff sessions", attempts, sessions)
