"""Writing a case's evidence bundle (no Flask). The layout and its verifier: `bundle.py`,
`verify.py`."""

import json
import shutil
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col, select

from cases.core.sqltypes import utcnow
from cases.enums import EventType
from cases.trail.blobs import BlobStore
from cases.trail.bundle import write_bundle
from cases.trail.canonical import utc_timestamp
from cases.trail.checkpoints import sign_log_checkpoint
from cases.trail.erasure import erased_files
from cases.trail.events import TrailError
from cases.trail.models import Blob, CaseEvent, Checkpoint, LogLeaf
from cases.trail.signed_notes import Signer
from cases.trail.store import (
    CaseLike,
    append_event,
    case_records,
    consistency_proof,
    inclusion_proof,
)
from cases.trail.verify import VerificationError, verify_bundle

EARLIER_CHECKPOINTS = 16
LEAF_BATCH = 20_000


def export_case(
    session: Session,
    *,
    case: CaseLike,
    out: Path,
    signer: Signer,
    origin: str,
    store: BlobStore,
    actor: str,
    withhold: Mapping[str, str] = {},
) -> Path:
    """Record the export, sign a fresh checkpoint over it, and write the bundle to `out`,
    leaving out the files `withhold` names (each with the reason the bundle gives)."""
    headers = session.exec(select(CaseEvent.header).where(CaseEvent.case_id == case.id))
    named = {sha for header in headers for sha in _header_blobs(header)}
    # A file an erasure deleted leaves as a withheld one does: named, with when and why.
    gone = [
        blob.sha256
        for blob in session.exec(select(Blob).where(col(Blob.sha256).in_(sorted(named))))
        if not store.exists(blob.sha256, restricted=blob.restricted)
    ]
    withhold = {**erased_files(session, shas=gone), **withhold}
    # The event names the files that leave with the bundle (their chain of custody); of those
    # withheld it gives only the count, as the payload is shown to the case's every reader.
    append_event(
        session,
        case=case,
        type=EventType.exported,
        actor=actor,
        payload={"bundle": Path(out).name, "withheld": len(named & withhold.keys())},
        blobs=sorted(named - withhold.keys()),
    )
    checkpoint = sign_log_checkpoint(session, signer=signer, origin=origin)
    size = checkpoint.size
    events = [
        (record, inclusion_proof(session, index=record.log_index, size=size))
        for record in case_records(session, case_id=case.id)
    ]
    referenced = {sha for record, _ in events for sha in _header_blobs(record.header)}
    blobs = {
        blob.sha256: partial(store.open, blob.sha256, restricted=blob.restricted)
        for blob in session.exec(
            select(Blob).where(col(Blob.sha256).in_(sorted(referenced - withhold.keys())))
        )
    }
    earlier = [
        (older.note, consistency_proof(session, size1=older.size, size2=size))
        for older in _earlier_checkpoints(session, before=checkpoint)
    ]
    bundle = write_bundle(
        Path(out),
        case_ref=case.reference,
        checkpoint_note=checkpoint.note,
        verifier_key=signer.verifier_key,
        leaves=_leaves(session, size),
        events=events,
        blobs=blobs,
        earlier=earlier,
        withheld={sha: reason for sha, reason in withhold.items() if sha in referenced},
        created_at=utc_timestamp(utcnow()),
    )
    # Never hand out a bundle that would not verify (a database tampered with since the last
    # checkpoint makes one): the caller's transaction then rolls back the export event too.
    try:
        verify_bundle(bundle, verifier_key=signer.verifier_key)
    except VerificationError as exc:
        if bundle.is_dir():
            shutil.rmtree(bundle)
        else:
            bundle.unlink()
        raise TrailError(f"the exported bundle does not verify, so it was deleted: {exc}") from exc
    return bundle


def _header_blobs(header: bytes | str) -> list[str]:
    return json.loads(header)["blobs"]


def _earlier_checkpoints(session: Session, *, before: Checkpoint) -> list[Checkpoint]:
    """The newest earlier checkpoints, one per size: an auditor holding one of them can check
    that this bundle's log extends it."""
    # Two checkpoints can share a size (concurrent signers, or a forger's re-signed root); the
    # bundle has one file name per size, so take the newest of each.
    newest = (
        select(sa.func.max(Checkpoint.id))
        .where(Checkpoint.size < before.size)
        .group_by(Checkpoint.size)
        .order_by(col(Checkpoint.size).desc())
        .limit(EARLIER_CHECKPOINTS)
    )
    rows = session.exec(
        select(Checkpoint)
        .where(col(Checkpoint.id).in_(newest))
        .order_by(col(Checkpoint.size).desc())
    )
    return list(rows)


def _leaves(session: Session, size: int):
    statement = select(LogLeaf.data).where(LogLeaf.index < size).order_by(LogLeaf.index)
    yield from session.exec(statement.execution_options(yield_per=LEAF_BATCH))
