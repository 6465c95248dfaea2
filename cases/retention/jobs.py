"""The daily retention sweep and what follows an erasure's commit. Listed in JOB_MODULES.

The sweep works in batches, each a job of its own (one transaction, each case in a savepoint of
its own), so no transaction stays open for the whole sweep and none outlives JOB_TIMEOUT; each
batch queues the next. After the last, one job purges the freed space. Every erasure queues the
deletion of its files, which runs after its commit.
"""

import logging

from flask import current_app
from sqlmodel import Session

from cases.core.db import get_engine
from cases.core.mail import outbox_folder
from cases.core.sqltypes import utcnow
from cases.evidence.blobs import blob_store
from cases.jobs.outbox import enqueue_job
from cases.jobs.registry import job, periodic
from cases.models import Case, Outbox
from cases.retention.files import ERASE_FILES_JOB, delete_erased_files
from cases.retention.service import SWEEP_BATCH, sweep
from cases.retention.traces import purge_search_index, reclaim_space

log = logging.getLogger(__name__)

BATCH_JOB = "retention_sweep_batch"
PURGE_JOB = "retention_purge"


def _sweep_batch(session: Session, *, after_id: int | None, erased: bool) -> None:
    result = sweep(session, now=utcnow(), after_id=after_id, limit=SWEEP_BATCH)
    for reference in result.erased:
        log.info("retention sweep: erased %s", reference)
    for reference, holds in result.skipped:
        log.info("retention sweep: skipped %s: under %s", reference, holds)
    for reference, error in result.failed:
        log.error("retention sweep: %s not erased: %s", reference, error)
    erased = erased or bool(result.erased)
    if result.more:
        enqueue_job(session, job=BATCH_JOB, args={"after_id": result.last_id, "erased": erased})
    elif erased:
        enqueue_job(session, job=PURGE_JOB, args={})


@periodic("retention_sweep", every_seconds=86400)
def retention_sweep(session: Session) -> None:
    """Erase the personal data of cases past their retention (the first batch)."""
    _sweep_batch(session, after_id=None, erased=False)


@job(BATCH_JOB)
def retention_sweep_batch(
    session: Session, outbox: Outbox, *, after_id: int, erased: bool = False
) -> None:
    """The sweep's next batch, after case `after_id`."""
    _sweep_batch(session, after_id=after_id, erased=erased)


@job(ERASE_FILES_JOB)
def erase_files(session: Session, outbox: Outbox, *, case_id: int) -> None:
    """Delete an erased case's evidence files and mail copies (safe to run twice)."""
    deleted = delete_erased_files(
        session,
        case=session.get(Case, case_id),
        store=blob_store(),
        mail_folder=outbox_folder(current_app),
    )
    log.info("erasure of case %s: deleted %d file(s)", case_id, len(deleted))


@job(PURGE_JOB)
def purge(session: Session, outbox: Outbox) -> None:
    """Purge the erased values' traces from the search index and the freed space."""
    purge_search_index(session)
    if get_engine().dialect.name == "postgresql":
        # VACUUM runs on a connection of its own; the erasures committed before this job began.
        # On SQLite this job's own write transaction would keep a checkpoint waiting: the
        # automatic checkpoints recycle the log instead (`retention sweep` truncates it).
        reclaim_space(get_engine())
