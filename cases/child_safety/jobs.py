"""Jobs of child-safety handling: the preservation hold after a CyberTipline report, and the
report's submission. Listed in the JOB_MODULES setting."""

from datetime import timedelta

from sqlmodel import Session

from cases.child_safety.holds import PRESERVATION_PERIOD, place_hold
from cases.core.sqltypes import utcnow
from cases.enums import HoldKind
from cases.jobs.registry import job
from cases.lifecycle.actors import Actor
from cases.models import Case, Outbox
from cases.trail.erasure import active_holds

RERUN_SLACK = timedelta(days=1)


class JobUnavailable(RuntimeError):
    """The job exists in the workflow vocabulary but this version cannot carry it out."""


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
