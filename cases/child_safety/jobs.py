"""Jobs of child-safety handling: the CyberTipline report's submission (one NCMEC call per run;
`cases.child_safety.ncmec.submission`), the sweep for stalled submissions, the preservation
hold after a finished report, and the object store's lock on held files. Listed in the
JOB_MODULES setting."""

from datetime import datetime, timedelta

from flask import current_app
from sqlmodel import Session, col, select

from cases.child_safety.holds import RETAIN_FILES_JOB, place_hold, preservation_period
from cases.child_safety.ncmec.submission import StepFailed, advance_submission, requeue_stalled
from cases.core.sqltypes import utcnow
from cases.enums import HoldKind
from cases.evidence.blobs import object_store
from cases.jobs.registry import AttemptFailed, job, periodic
from cases.lifecycle.actors import Actor
from cases.models import Case, Outbox
from cases.trail.erasure import active_holds, covered_files
from cases.trail.models import Blob

RERUN_SLACK = timedelta(days=1)


@job("place_preservation_hold")
def place_preservation_hold(session: Session, outbox: Outbox, *, case_id: int, **_args) -> None:
    """Preserve a reported case's evidence for PRESERVATION_DAYS, at least a year (extends an
    existing hold)."""
    case = session.get(Case, case_id)
    now = utcnow()
    period = preservation_period()
    if any(
        hold.kind == HoldKind.preservation and hold.until >= now + period - RERUN_SLACK
        for hold in active_holds(session, case_id=case_id, now=now)
    ):
        return  # already preserved for the full period: a re-run changes nothing
    place_hold(
        session,
        case=case,
        kind=HoldKind.preservation,
        reason="CyberTipline report finished: preserved under 18 U.S.C. 2258A(h)",
        until=now + period,
        actor=Actor.system(f"job:{outbox.id}"),
        now=now,
    )


@job(RETAIN_FILES_JOB)
def retain_held_files(session: Session, outbox: Outbox, *, case_id: int, **_args) -> None:
    """Lock the files the case's active holds cover in the object store until each hold's end
    (retention only ever moves later, so a re-run, or a run after a later one, changes nothing)."""
    store = object_store()
    if store is None:
        return  # the deployment went back to the local folder since this was queued
    until: dict[str, datetime] = {}
    for hold in active_holds(session, case_id=case_id):
        for sha256 in covered_files(session, hold=hold):
            until[sha256] = max(hold.until, until.get(sha256, hold.until))
    for blob in session.exec(select(Blob).where(col(Blob.sha256).in_(sorted(until)))).all():
        store.retain(blob.sha256, restricted=blob.restricted, until=until[blob.sha256])


# Each run makes one NCMEC call; the backoff (30 s doubling, capped at 1 h) spans about three
# hours, well inside NCMEC's 24, and a report stalled longer is retracted and resubmitted.
@job("submit_ncmec_report", queue="ncmec", max_attempts=10)
def submit_ncmec_report(session: Session, outbox: Outbox, *, case_id: int, **_args) -> None:
    """Take the case's CyberTipline submission one NCMEC call further and queue the next."""
    try:
        advance_submission(session, case_id=case_id, outbox=outbox, config=current_app.config)
    except StepFailed as exc:
        raise AttemptFailed(str(exc)) from exc


@periodic("ncmec_stalled_reports", every_seconds=300)
def requeue_stalled_reports(session: Session) -> int:
    """Retract and resubmit reports left unfinished close to NCMEC's deletion with no run queued."""
    return requeue_stalled(session)
