"""Opening evidence, which the trail records: who viewed which file, when.

Opening an item appends an `evidence_viewed` event naming the blob (so a later CyberTipline report
can truthfully say a person viewed the file).
"""

from typing import BinaryIO

from sqlmodel import Session

from cases.enums import EventType
from cases.evidence.blobs import blob_store
from cases.evidence.service import EvidenceNotFound, list_evidence
from cases.lifecycle.actors import Actor
from cases.models import Case
from cases.trail.models import Blob
from cases.trail.store import append_event


def open_evidence(
    session: Session, *, case: Case, sha256: str, actor: Actor
) -> tuple[Blob, BinaryIO]:
    """Open one evidence file of `case` for reading and record that `actor` viewed it."""
    items = list_evidence(session, case=case, viewer=actor.user)
    item = next((i for i in items if i.blob.sha256 == sha256), None)
    if item is None:
        raise EvidenceNotFound(f"no evidence {sha256} on {case.reference}")
    try:
        stream = blob_store().open(sha256, restricted=item.blob.restricted)
    except FileNotFoundError:
        raise EvidenceNotFound(f"the file of evidence {sha256} is missing from the store") from None
    append_event(
        session,
        case=case,
        type=EventType.evidence_viewed,
        actor=actor.label,
        payload={"sha256": sha256, "media_type": item.blob.media_type, "filename": item.filename},
        blobs=[sha256],
    )
    return item.blob, stream
