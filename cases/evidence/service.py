"""A case's evidence files: storing what people send, and listing them as a viewer may see them.

Evidence is every blob an `evidence_added` event of the case references. Restricted blobs
(child-safety media) exist only for roles cleared to see restricted material; to anyone else they
do not exist. Opening one is `cases.evidence.viewing`.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from cases.accounts.access import sees_restricted
from cases.core.uploads import Attachment
from cases.enums import EventType
from cases.evidence.blobs import blob_store
from cases.lifecycle.actors import Actor
from cases.models import Case, User
from cases.trail.blobs import store_blob
from cases.trail.models import Blob, CaseEvent, EventPayload
from cases.trail.store import NewEvent, append_events


class EvidenceNotFound(LookupError):
    """Not evidence of this case, or not evidence this viewer may open."""


@dataclass(frozen=True)
class EvidenceItem:
    blob: Blob
    filename: str | None  # None once the adding event's payload was erased
    added_at: datetime
    added_by: str


def _added_events(session: Session, case: Case) -> list[tuple[CaseEvent, EventPayload | None]]:
    return list(
        session.exec(
            select(CaseEvent, EventPayload)
            .join(EventPayload, col(EventPayload.event_id) == CaseEvent.id, isouter=True)
            .where(CaseEvent.case_id == case.id, CaseEvent.type == EventType.evidence_added)
            .order_by(col(CaseEvent.seq))
        )
    )


def list_evidence(session: Session, *, case: Case, viewer: User) -> list[EvidenceItem]:
    """The case's evidence in the order it was added, one item per blob, as `viewer` may see it."""
    added: dict[str, tuple[CaseEvent, str | None]] = {}
    for event, payload in _added_events(session, case):
        filename = json.loads(payload.payload).get("filename") if payload else None
        for sha256 in json.loads(event.header)["blobs"]:
            added.setdefault(sha256, (event, filename))
    if not added:
        return []
    blobs = {
        blob.sha256: blob
        for blob in session.exec(select(Blob).where(col(Blob.sha256).in_(list(added))))
    }
    cleared = sees_restricted(viewer)
    return [
        EvidenceItem(blob=blobs[sha256], filename=filename, added_at=event.at, added_by=event.actor)
        for sha256, (event, filename) in added.items()
        if sha256 in blobs and (cleared or not blobs[sha256].restricted)
    ]


def store_attachments(
    session: Session,
    *,
    case: Case,
    attachments: Sequence[Attachment],
    actor: Actor,
    context: Mapping[str, object],
    now: datetime | None = None,
) -> list[str]:
    """Store files someone outside sent (a notice, an appeal) as the case's evidence, one
    `evidence_added` event each with `context` (which report or appeal); their SHA-256s."""
    store = blob_store()
    evidence = []
    for attachment in attachments:
        # Child-safety media goes to the separate, access-restricted area of the store.
        blob = store_blob(
            session,
            store=store,
            stream=attachment.stream,
            media_type=attachment.media_type,
            restricted=case.restricted,
            # Inspection measured it against the upload limit; the stream may not grow since.
            max_size=attachment.size,
        )
        evidence.append(
            NewEvent(
                case=case,
                type=EventType.evidence_added,
                actor=actor.label,
                payload={
                    **context,
                    "filename": attachment.filename,
                    "media_type": attachment.media_type,
                    "size": blob.size,
                    "md5": blob.md5,
                    "sha1": blob.sha1,
                },
                blobs=[blob.sha256],
            )
        )
    append_events(session, evidence, at=now)
    return [event.blobs[0] for event in evidence]
