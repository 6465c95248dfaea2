"""Opening evidence, which the trail records (who viewed which file, when and why); what each
reviewer has been exposed to; and each file's chain of custody.

Opening an item appends an `evidence_viewed` event naming the blob and writes an `EvidenceView`
row beside it: the event is the proof, the row is what custody, exposure counts and a
CyberTipline report's `fileViewedByEsp` query. Restricted media opens only for roles that work
child-safety cases (`cleared_for_media`): auditors read its history, never the media itself.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

from sqlmodel import Session, col, func, or_, select

from cases.core.security import PermissionDenied
from cases.enums import EventType
from cases.evidence.blobs import blob_store
from cases.evidence.service import (
    EvidenceItem,
    EvidenceNotFound,
    cleared_for_media,
    list_evidence,
)
from cases.lifecycle.actors import Actor
from cases.models import Case, EvidenceView, NcmecReport, User
from cases.trail.models import Blob, CaseEvent, EventPayload
from cases.trail.store import append_event

MAX_REASON = 1000
SHA256 = re.compile(r"[0-9a-f]{64}")
# Media that show a person something graphic: what the exposure counter counts.
GRAPHIC_PREFIXES = ("image/", "video/")
# A rolling day rather than a calendar one: staff work in every time zone and across midnight.
EXPOSURE_WINDOW = timedelta(hours=24)


class ReasonRequired(ValueError):
    """Evidence is opened for a stated reason, never without one."""


def may_open(user: User, item: EvidenceItem) -> bool:
    """Whether `user` may see the bytes of `item` (restricted media: child-safety workers only)."""
    return not item.restricted or cleared_for_media(user)


def find_evidence(session: Session, *, case: Case, sha256: str, viewer: User) -> EvidenceItem:
    """The evidence item `sha256` of `case` as `viewer` may see it, else EvidenceNotFound."""
    if SHA256.fullmatch(sha256):
        items = list_evidence(session, case=case, viewer=viewer)
        item = next((i for i in items if i.blob.sha256 == sha256), None)
        if item is not None:
            return item
    raise EvidenceNotFound(f"no evidence {sha256!r} on {case.reference}")


def open_evidence(
    session: Session, *, case: Case, sha256: str, actor: Actor, reason: str
) -> tuple[Blob, BinaryIO]:
    """Record that staff `actor` opens evidence `sha256` of `case` for `reason`, and open it."""
    if actor.user is None:
        raise PermissionDenied("only staff open evidence")
    item = find_evidence(session, case=case, sha256=sha256, viewer=actor.user)
    if not may_open(actor.user, item):
        raise EvidenceNotFound(f"no evidence {sha256} on {case.reference}")
    reason = reason.strip()
    if not reason:
        raise ReasonRequired("say why you are opening this file")
    details = {"media_type": item.blob.media_type, "filename": item.filename}
    if item.restricted and not case.restricted:
        # As when it was added: the timeline of an ordinary case, open to people not cleared for
        # restricted media, learns nothing of the file beyond the SHA-256 the chain needs.
        details = {"restricted": True}
    event = append_event(
        session,
        case=case,
        type=EventType.evidence_viewed,
        actor=actor.label,
        payload={"sha256": sha256, **details, "reason": reason},
        blobs=[sha256],
    )
    session.add(
        EvidenceView(
            case_id=case.id,
            blob_sha256=sha256,
            user_id=actor.user_id,
            reason=reason,
            media_type=item.blob.media_type,
            viewed_at=event.at,
        )
    )
    try:
        # Opened last, so a file missing from the store leaves a view for the caller to roll back.
        return item.blob, blob_store().open(sha256, restricted=item.blob.restricted)
    except FileNotFoundError:
        raise EvidenceNotFound(f"the file of evidence {sha256} is missing from the store") from None


@dataclass(frozen=True)
class Exposure:
    count: int  # distinct graphic items opened in the last EXPOSURE_WINDOW
    break_after: int

    @property
    def break_due(self) -> bool:
        return self.count >= self.break_after


def exposure(session: Session, *, user: User, now: datetime, break_after: int) -> Exposure:
    """How many distinct graphic items `user` opened in the day before `now`."""
    count = session.exec(
        select(func.count(func.distinct(EvidenceView.blob_sha256))).where(
            EvidenceView.user_id == user.id,
            EvidenceView.viewed_at > now - EXPOSURE_WINDOW,
            or_(*(col(EvidenceView.media_type).startswith(p) for p in GRAPHIC_PREFIXES)),
        )
    ).one()
    return Exposure(count=count, break_after=break_after)


@dataclass(frozen=True)
class ViewRecord:
    at: datetime
    who: str
    role: str
    reason: str


@dataclass(frozen=True)
class ExportRecord:
    at: datetime
    actor: str
    bundle: str | None  # None once the export event's payload was erased


@dataclass(frozen=True)
class ReportRecord:
    report: NcmecReport
    entry: dict  # the report's `files` entry for this file


@dataclass(frozen=True)
class Custody:
    item: EvidenceItem
    views: list[ViewRecord]
    exports: list[ExportRecord]
    reports: list[ReportRecord]
    people: dict[str, str]  # trail actor label → staff email


def _exports_including(session: Session, case: Case, sha256: str) -> list[ExportRecord]:
    """The case's exports whose bundle carried the file (an `exported` event names the files
    that left with it; a withheld one is not among them)."""
    rows = session.exec(
        select(CaseEvent, EventPayload)
        .join(EventPayload, col(EventPayload.event_id) == CaseEvent.id, isouter=True)
        .where(CaseEvent.case_id == case.id, CaseEvent.type == EventType.exported)
        .order_by(col(CaseEvent.seq))
    )
    return [
        ExportRecord(
            at=event.at,
            actor=event.actor,
            bundle=json.loads(payload.payload).get("bundle") if payload else None,
        )
        for event, payload in rows
        if sha256 in json.loads(event.header)["blobs"]
    ]


def custody(session: Session, *, case: Case, sha256: str, viewer: User) -> Custody:
    """Every view, export and CyberTipline report of `case` that included evidence `sha256`."""
    item = find_evidence(session, case=case, sha256=sha256, viewer=viewer)
    views = [
        ViewRecord(at=view.viewed_at, who=user.email, role=user.role, reason=view.reason)
        for view, user in session.exec(
            select(EvidenceView, User)
            .join(User, col(User.id) == EvidenceView.user_id)
            .where(EvidenceView.case_id == case.id, EvidenceView.blob_sha256 == sha256)
            .order_by(col(EvidenceView.viewed_at), col(EvidenceView.id))
        )
    ]
    exports = _exports_including(session, case, sha256)
    reports = [
        ReportRecord(report=report, entry=entry)
        for report in session.exec(
            select(NcmecReport).where(NcmecReport.case_id == case.id).order_by(col(NcmecReport.id))
        )
        for entry in report.files
        if entry["sha256"] == sha256 and entry["include"]
    ]
    labels = {item.added_by, *(export.actor for export in exports)}
    ids = [int(label[5:]) for label in labels if label.startswith("user:") and label[5:].isdigit()]
    people = {
        f"user:{user.id}": user.email
        for user in session.exec(select(User).where(col(User.id).in_(ids)))
    }
    return Custody(item=item, views=views, exports=exports, reports=reports, people=people)
