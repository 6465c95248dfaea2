"""Jobs and periodic tasks of the case domain: checkpoint signing, preservation holds, the SLA
sweep. Registered with cases.jobs; listed in the JOB_MODULES setting."""

from datetime import timedelta

from flask import current_app
from sqlmodel import Session

from cases.actors import Actor
from cases.enums import HoldKind
from cases.evidence import signer
from cases.holds import PRESERVATION_PERIOD, place_hold
from cases.jobs import job, periodic
from cases.models import Case, Outbox
from cases.sqltypes import utcnow
from cases.trail.checkpoints import sign_log_checkpoint
from cases.trail.erasure import active_holds
from cases.transitions import sweep

RERUN_SLACK = timedelta(days=1)


class JobUnavailable(RuntimeError):
    """The job exists in the workflow vocabulary but this version cannot carry it out."""


def _sign(session: Session) -> None:
    sign_log_checkpoint(session, signer=signer(), origin=current_app.config["TRAIL_ORIGIN"])


@job("sign_checkpoint")
def sign_checkpoint_job(session: Session, outbox: Outbox, **_args) -> None:
    """Sign the log right after a case closes, so its final state is covered at once."""
    _sign(session)


@periodic("sign_checkpoint", every_seconds=600)
def sign_checkpoint_periodically(session: Session) -> None:
    _sign(session)


@periodic("sla_sweep", every_seconds=60)
def sla_sweep(session: Session) -> None:
    sweep(session)


@job("place_preservation_hold")
def place_preservation_hold(session: Session, outbox: Outbox, *, case_id: int, **_args) -> None:
    """Preserve a reported case's evidence for at least a year (extends an existing hold)."""
    case = session.get(Case, case_id)
    now = utcnow()
    if any(
        hold.kind == HoldKind.preservation and hold.until >= now + PRESERVATION_PERIOD - RERUN_SLACK
        for hold in active_holds(session, case_id=case_id, now=now)
    ):
        return  # already preserved for the full period: a re-run changes nothing
    place_hold(
        session,
        case=case,
        kind=HoldKind.preservation,
        reason="CyberTipline report finished: preserved under 18 U.S.C. 2258A(h)",
        until=now + PRESERVATION_PERIOD,
        actor=Actor.system(f"job:{outbox.id}"),
        now=now,
    )


@job("submit_ncmec_report", queue="ncmec")
def submit_ncmec_report(session: Session, outbox: Outbox, **_args) -> None:
    """Fails visibly until the CyberTipline client exists, so no report is silently dropped."""
    raise JobUnavailable(
        "CyberTipline submission is not available in this version: file the report manually "
        "and record it on the case"
    )
