"""Notices of misuse from the public (DSA Art. 16): the web form's and the JSON API's, recorded on
their case with each attachment as evidence."""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlmodel import Session

from cases.enums import (
    EventType,
    ReportSource,
    SubjectKind,
)
from cases.evidence.blobs import blob_store
from cases.evidence.uploads import Attachment
from cases.intake.service import IntakeError, IntakeItem, IntakeOutcome, SubjectRef, receive
from cases.lifecycle.actors import Actor
from cases.trail.blobs import store_blob
from cases.trail.store import NewEvent, append_events

PORTAL = Actor.system("public_report")  # the label the JSON API's notices carry too


# Subject ids are at most 200 characters; a longer URL is identified by its hash instead.
MAX_SUBJECT_ID = 200


@dataclass(frozen=True)
class Notice:
    """A notice of misuse as the public gives it (DSA Art. 16 elements)."""

    category: str
    explanation: str
    url: str | None = None
    content_id: str | None = None
    account_id: str | None = None
    reporter_name: str | None = None
    reporter_email: str | None = None
    good_faith: bool = False

    def subject(self) -> SubjectRef:
        """The account when one is named, else the content (by its id, else its URL)."""
        if self.account_id:
            return SubjectRef(kind=SubjectKind.account, external_id=self.account_id)
        external_id = self.content_id or self.url or ""
        if len(external_id) > MAX_SUBJECT_ID:
            # The same scheme as the JSON API's notices, so both channels group on one subject.
            external_id = "sha256:" + hashlib.sha256(external_id.encode()).hexdigest()
        return SubjectRef(
            kind=SubjectKind.content, external_id=external_id, display=self.url and self.url[:200]
        )


def submit_notice(
    session: Session,
    *,
    notice: Notice,
    attachments: Sequence[Attachment] = (),
    max_attachment_bytes: int,
    raw_payload: str | None = None,
    now: datetime | None = None,
) -> IntakeOutcome:
    """Record a notice from the public on its case, with each attachment as evidence."""
    if not (notice.url or notice.content_id or notice.account_id):
        raise IntakeError(
            "say where it happened: a URL, a content id or an account id", field="url"
        )
    if not notice.good_faith:
        raise IntakeError("the good-faith statement is required", field="good_faith")
    if raw_payload is None:
        raw_payload = json.dumps(
            {
                **asdict(notice),
                "attachments": [
                    {"filename": a.filename, "media_type": a.media_type, "size": a.size}
                    for a in attachments
                ],
            },
            sort_keys=True,
            ensure_ascii=False,
        )
    item = IntakeItem(
        source=ReportSource.user_report,
        subject=notice.subject(),
        raw_payload=raw_payload,
        clause_id=notice.category,
        location=notice.url,
        explanation=notice.explanation,
        reporter_name=notice.reporter_name,
        reporter_email=notice.reporter_email,
        good_faith=notice.good_faith,
        content_ref=notice.content_id,
    )
    outcome = receive(session, item=item, actor=PORTAL, now=now)
    store = blob_store()
    evidence = []
    for attachment in attachments:
        # Child-safety media goes to the separate, access-restricted area of the store.
        blob = store_blob(
            session,
            store=store,
            stream=attachment.stream,
            media_type=attachment.media_type,
            restricted=outcome.case.restricted,
            max_size=max_attachment_bytes,
        )
        evidence.append(
            NewEvent(
                case=outcome.case,
                type=EventType.evidence_added,
                actor=PORTAL.label,
                payload={
                    "report_id": outcome.report_id,
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
    return outcome
