"""The files of an erased case: its evidence files' bytes in the blob store (both areas) and the
embedded mail outbox's copies of its messages.

Which evidence files go is decided with the erasure, in its transaction (`erasable_files`: named
by the case's events, not held, and named by no other case not erased since), and recorded in
the `erased` event. The bytes are deleted by a job after commit (`delete_erased_files`), which
asks the same questions again first: a case that took the same file since, or a hold placed
since, keeps it. The `blob` row and its hashes stay (the table is insert-only, and the trail's
commitments name the hashes), so an upload of the same bytes later stores them again.

On SQLite the job's write transaction also queues any upload behind it: an upload reads the
file's row before it looks for the file. On PostgreSQL an upload of the very same bytes racing
the job could find the file still there and lose it a moment later; the verifier then names it.
"""

import json
import os
import re
from pathlib import Path

from sqlmodel import Session, col, or_, select

from cases.core.mail import OUTBOX_KEY
from cases.enums import EventType
from cases.models import Case, Message
from cases.trail.blobs import BlobStore
from cases.trail.erasure import is_held
from cases.trail.models import Blob, CaseEvent, EventPayload

ERASE_FILES_JOB = "retention_erase_files"
_MESSAGE_ID = re.compile(r"<docket\.([0-9.]+)@")


def _named(session: Session, case_id: int) -> set[str]:
    headers = session.exec(select(CaseEvent.header).where(CaseEvent.case_id == case_id))
    return {sha256 for header in headers for sha256 in json.loads(header)["blobs"]}


def _named_elsewhere(session: Session, *, case_id: int, shas: set[str]) -> set[str]:
    """Of `shas`, those another case names in an event since that case was last erased."""
    if not shas:
        return set()
    # A scan of the other cases' headers (no index maps files to cases): the text match
    # narrows them, the header decides.
    rows = session.exec(
        select(CaseEvent.header, CaseEvent.at, Case.erased_at)
        .join(Case, col(Case.id) == CaseEvent.case_id)
        .where(
            CaseEvent.case_id != case_id,
            or_(*(col(CaseEvent.header).contains(f'"{sha}"', autoescape=True) for sha in shas)),
        )
    )
    return {
        sha
        for header, at, erased_at in rows
        if erased_at is None or erased_at < at
        for sha in shas.intersection(json.loads(header)["blobs"])
    }


def erasable_files(session: Session, *, case: Case, held: set[str]) -> list[str]:
    """The SHA-256s of the files whose bytes erasing `case` deletes: stored, named by its
    events, not `held`, and named by no other case still holding its data."""
    candidates = _named(session, case.id) - held
    stored = set(session.exec(select(Blob.sha256).where(col(Blob.sha256).in_(sorted(candidates)))))
    return sorted(stored - _named_elsewhere(session, case_id=case.id, shas=stored))


def _recorded(session: Session, case_id: int) -> list[str]:
    """The files the case's latest erasure recorded for deletion."""
    payload = session.exec(
        select(EventPayload.payload)
        .join(CaseEvent, col(CaseEvent.id) == EventPayload.event_id)
        .where(CaseEvent.case_id == case_id, CaseEvent.type == EventType.erased)
        .order_by(col(CaseEvent.seq).desc())
    ).first()
    return json.loads(payload).get("files", []) if payload else []


def delete_erased_files(
    session: Session, *, case: Case, store: BlobStore, mail_folder: Path
) -> list[str]:
    """Delete the bytes of the files the case's erasure recorded (unless held or taken by another
    case since) and the mail outbox's copies of its messages; the SHA-256s and paths deleted."""
    recorded = set(_recorded(session, case.id))
    taken = _named_elsewhere(session, case_id=case.id, shas=recorded)
    blobs = session.exec(select(Blob).where(col(Blob.sha256).in_(sorted(recorded - taken))))
    # A store's delete of something already gone is False: deleted by an earlier run of the job.
    deleted = [
        blob.sha256
        for blob in blobs
        if not is_held(session, blob_sha256=blob.sha256)
        and store.delete(blob.sha256, restricted=blob.restricted)
    ]
    paths = []
    message_ids = session.exec(
        select(Message.message_id).where(
            Message.case_id == case.id, col(Message.message_id).is_not(None)
        )
    )
    for message_id in message_ids:
        found = _MESSAGE_ID.match(message_id)
        if found and OUTBOX_KEY.match(found.group(1)):
            paths.append(mail_folder / f"docket.{found.group(1)}.eml")
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue  # deleted by an earlier run of the job
        deleted.append(str(path))
    return deleted
