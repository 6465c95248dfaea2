"""A case's evidence files: storing what people send, and listing them as a viewer may see them.

Evidence is every blob an `evidence_added` event of the case references. A blob is restricted
(child-safety media) on a child-safety case, and on every case when it was first stored for a
child-safety case or its hash is known (`cases.child_safety.known_hashes`). Restricted blobs exist
only for roles cleared to see restricted material, and leave in an export bundle only with a role
that works child-safety cases; to an uncleared exporter the bundle names them as withheld.
Opening one is `cases.evidence.viewing`.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from cases.accounts.access import sees_restricted
from cases.child_safety.holds import retain_held_files_later
from cases.child_safety.known_hashes import FileHashes, find_matches, known_blobs
from cases.core.security import has_permission
from cases.core.uploads import Attachment
from cases.enums import EventType, Permission
from cases.evidence.blobs import blob_store
from cases.lifecycle.actors import Actor
from cases.models import Case, User
from cases.trail.blobs import CHUNK, StoredBlob, store_blob
from cases.trail.models import Blob, CaseEvent, EventPayload
from cases.trail.store import NewEvent, append_events

WITHHELD_REASON = "restricted child-safety media, withheld from an exporter not cleared for it"


class EvidenceNotFound(LookupError):
    """Not evidence of this case, or not evidence this viewer may open."""


@dataclass(frozen=True)
class EvidenceItem:
    blob: Blob
    filename: str | None  # None once the adding event's payload was erased, or withheld
    added_at: datetime
    added_by: str
    # Restricted media: on a child-safety case, first stored for one, or known since
    # (blob.restricted says only where the bytes were first stored).
    restricted: bool


def cleared_for_media(viewer: User | None) -> bool:
    """Whether `viewer` may have restricted media's bytes: roles that work child-safety cases."""
    return viewer is not None and has_permission(viewer.role, Permission.work_restricted)


def restricted_blobs(session: Session, *, blobs: Sequence[Blob]) -> set[str]:
    """The SHA-256s of `blobs` that are restricted media."""
    return {blob.sha256 for blob in blobs if blob.restricted} | known_blobs(
        session, blobs=[blob for blob in blobs if not blob.restricted]
    )


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
    restricted = (
        set(blobs) if case.restricted else restricted_blobs(session, blobs=list(blobs.values()))
    )
    cleared = sees_restricted(viewer)
    return [
        EvidenceItem(
            blob=blobs[sha256],
            filename=filename,
            added_at=event.at,
            added_by=event.actor,
            restricted=sha256 in restricted,
        )
        for sha256, (event, filename) in added.items()
        if sha256 in blobs and (cleared or sha256 not in restricted)
    ]


def withheld_evidence(session: Session, *, case: Case, viewer: User | None) -> dict[str, str]:
    """The files named by `case`'s events that an export for `viewer` (None: an operator at the
    command line, who holds no role) leaves out, each with the reason: restricted media, unless
    the viewer is cleared for it."""
    if cleared_for_media(viewer):
        return {}
    headers = session.exec(select(CaseEvent.header).where(CaseEvent.case_id == case.id))
    named = sorted({sha for header in headers for sha in json.loads(header)["blobs"]})
    blobs = list(session.exec(select(Blob).where(col(Blob.sha256).in_(named))))
    withheld = (
        {b.sha256 for b in blobs} if case.restricted else restricted_blobs(session, blobs=blobs)
    )
    return dict.fromkeys(sorted(withheld), WITHHELD_REASON)


def hash_attachments(attachments: Sequence[Attachment]) -> list[FileHashes]:
    """Each attachment's SHA-256 and MD5 (read through, and rewound for storing)."""
    hashes = []
    for attachment in attachments:
        sha256, md5 = hashlib.sha256(), hashlib.md5()
        attachment.stream.seek(0)
        while chunk := attachment.stream.read(CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
        attachment.stream.seek(0)
        hashes.append(FileHashes(sha256=sha256.hexdigest(), md5=md5.hexdigest()))
    return hashes


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

    def restricted(stored: StoredBlob) -> bool:
        # Child-safety media goes to the separate, access-restricted area of the store: a child-
        # safety case's files, and known hashes wherever they arrive.
        files = [FileHashes(sha256=stored.sha256, md5=stored.md5)]
        return case.restricted or bool(find_matches(session, files=files)[0])

    evidence = []
    for attachment in attachments:
        blob = store_blob(
            session,
            store=store,
            stream=attachment.stream,
            media_type=attachment.media_type,
            restricted=restricted,
            # Inspection measured it against the upload limit; the stream may not grow since.
            max_size=attachment.size,
        )
        details = {
            "filename": attachment.filename,
            "media_type": attachment.media_type,
            "size": blob.size,
            "md5": blob.md5,
            "sha1": blob.sha1,
        }
        if not case.restricted and restricted_blobs(session, blobs=[blob]):
            # Restricted media on an ordinary case: its timeline and API, open to people not
            # cleared for it, get no name or hash beyond the SHA-256 the chain needs.
            details = {"restricted": True}
        evidence.append(
            NewEvent(
                case=case,
                type=EventType.evidence_added,
                actor=actor.label,
                payload={**context, **details},
                blobs=[blob.sha256],
            )
        )
    append_events(session, evidence, at=now)
    # New files of a held case: the object store locks them too, until the holds' ends.
    retain_held_files_later(session, case_id=case.id)
    return [event.blobs[0] for event in evidence]
