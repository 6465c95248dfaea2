"""The public portal: notices of misuse from the web form, and the private status links through
which a reporter or an affected user follows a case without an account.

A status link carries a signed, expiring token (itsdangerous, keyed by SECRET_KEY) naming who holds
it: a reporter (by report id) or the affected user (by case id). Nothing is stored per link, so a
link cannot be revoked early; it lasts STATUS_LINK_MAX_AGE_DAYS, longer than the appeal window.
What each holder sees is assembled here, without third parties' personal data.
"""

import codecs
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import PurePosixPath
from typing import BinaryIO
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session, col, select

from cases.actors import Actor
from cases.definitions import definitions
from cases.enums import (
    AppealOutcome,
    AppellantKind,
    EventType,
    ReportSource,
    Restriction,
    Stage,
    SubjectKind,
)
from cases.evidence import blob_store
from cases.intake import IntakeError, IntakeItem, IntakeOutcome, SubjectRef, receive
from cases.models import Appeal, Case, Decision, Report, Subject
from cases.trail.blobs import store_blob
from cases.trail.models import CaseEvent
from cases.trail.store import NewEvent, append_events
from cases.transitions import APPEAL_WINDOW, case_workflow, latest_decision
from workflows import get_state

PORTAL = Actor.system("public_report")  # the label the JSON API's notices carry too
STATUS_LINK_SALT = "docket.status-link"
# Subject ids are at most 200 characters; a longer URL is identified by its hash instead.
MAX_SUBJECT_ID = 200

# --- attachments ---------------------------------------------------------------------------------

# (media type, [(offset, bytes), ...]): every part must match. Only these types are accepted.
SIGNATURES: tuple[tuple[str, tuple[tuple[int, bytes], ...]], ...] = (
    ("image/png", ((0, b"\x89PNG\r\n\x1a\n"),)),
    ("image/jpeg", ((0, b"\xff\xd8\xff"),)),
    ("image/gif", ((0, b"GIF87a"),)),
    ("image/gif", ((0, b"GIF89a"),)),
    ("image/webp", ((0, b"RIFF"), (8, b"WEBP"))),
    ("application/pdf", ((0, b"%PDF-"),)),
)
SNIFF_BYTES = 16
TEXT_CHUNK = 1 << 16
# Plain text: UTF-8 with no control characters but tab, line feed, form feed and carriage return.
TEXT_CONTROLS = frozenset(range(32)) - {9, 10, 12, 13} | {127}
ACCEPTED_TYPES = "a PNG, JPEG, GIF or WebP image, a PDF, or a plain-text file"


class AttachmentRejected(ValueError):
    """An upload that is empty, too large or of a type the portal does not accept."""


@dataclass(frozen=True)
class Attachment:
    """An upload that passed inspection: its measured size and sniffed type, stream at 0."""

    filename: str
    media_type: str
    size: int
    stream: BinaryIO


def clean_filename(filename: str) -> str:
    """The file's own name, without any folder a browser or client put in front of it."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name.strip()
    return name[:255] or "attachment"


def human_size(size: int) -> str:
    return f"{size / (1 << 20):g} MiB" if size >= 1 << 20 else f"{size / 1024:g} KiB"


def sniff_media_type(stream: BinaryIO) -> str | None:
    """The media type the file's bytes show (never the name or the browser's claim), or None."""
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    for media_type, parts in SIGNATURES:
        if all(head[offset : offset + len(magic)] == magic for offset, magic in parts):
            return media_type
    stream.seek(0)
    return "text/plain" if _is_plain_text(stream) else None


def _is_plain_text(stream: BinaryIO) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := stream.read(TEXT_CHUNK):
            if any(ord(c) in TEXT_CONTROLS for c in decoder.decode(chunk)):
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def inspect_attachment(stream: BinaryIO, *, filename: str, max_bytes: int) -> Attachment:
    """Measure and sniff an upload; AttachmentRejected says why it cannot be accepted."""
    name = clean_filename(filename)
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    if size == 0:
        raise AttachmentRejected(f"{name} is empty.")
    if size > max_bytes:
        raise AttachmentRejected(f"{name} is larger than {human_size(max_bytes)}.")
    media_type = sniff_media_type(stream)
    stream.seek(0)
    if media_type is None:
        raise AttachmentRejected(f"{name} is not {ACCEPTED_TYPES}.")
    return Attachment(filename=name, media_type=media_type, size=size, stream=stream)


# --- notices -------------------------------------------------------------------------------------


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


# --- private status links ------------------------------------------------------------------------


class LinkInvalid(LookupError):
    """The token is malformed or its signature does not match."""


class LinkExpired(LinkInvalid):
    """The token was genuine but is older than STATUS_LINK_MAX_AGE_DAYS."""


@dataclass(frozen=True)
class LinkHolder:
    """Who a status link was issued to: a reporter (`id` a report) or the affected user (a case)."""

    role: AppellantKind
    id: int


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=STATUS_LINK_SALT)


def link_lifetime() -> timedelta:
    return timedelta(days=float(current_app.config["STATUS_LINK_MAX_AGE_DAYS"]))


def status_token(holder: LinkHolder) -> str:
    return _serializer().dumps({"role": holder.role.value, "id": holder.id})


def link_for_token(token: str) -> str:
    """The absolute URL of a status page, on PUBLIC_BASE_URL: never on a request's Host header,
    and the same from a web request, a CLI command or a worker."""
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path.rstrip("/") or None, url_scheme=base.scheme
    )
    return adapter.build("public.status", {"token": token}, force_external=True)


def status_link(report: Report) -> str:
    """The reporter's private link to the status of `report`."""
    return link_for_token(status_token(LinkHolder(AppellantKind.reporter, report.id)))


def affected_user_link(case: Case) -> str:
    """The affected user's private link to the decision on `case` and how to appeal it."""
    return link_for_token(status_token(LinkHolder(AppellantKind.affected_user, case.id)))


def read_status_token(token: str) -> LinkHolder:
    """Whom the token was issued to; LinkExpired or LinkInvalid when it cannot be honoured."""
    max_age = int(link_lifetime().total_seconds())
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkExpired("the link has expired") from None
    except BadSignature:
        raise LinkInvalid("the link is not valid") from None
    try:
        return LinkHolder(role=AppellantKind(data["role"]), id=int(data["id"]))
    except (KeyError, TypeError, ValueError):
        raise LinkInvalid("the link is not valid") from None


# --- what the holder of a link sees --------------------------------------------------------------


class PublicStatus(StrEnum):
    """Where a case stands, in the words the public sees."""

    received = "received"
    under_review = "under review"
    action_taken = "action taken"
    no_action = "no action"
    closed = "closed"

    @property
    def explanation(self) -> str:
        return STATUS_EXPLANATIONS[self]


STATUS_EXPLANATIONS = {
    PublicStatus.received: "We have received it; a reviewer will look at it soon.",
    PublicStatus.under_review: "A reviewer is looking into it.",
    PublicStatus.action_taken: "We found a breach of our usage policies and acted on it.",
    PublicStatus.no_action: "We reviewed it and found no breach of our usage policies to act on.",
    PublicStatus.closed: "The case is closed.",
}

RESTRICTION_WORDS = {
    Restriction.warn: "a warning",
    Restriction.content_removal: "the content was removed",
    Restriction.feature_restriction: "some features were restricted",
    Restriction.temporary_suspension: "the account was suspended for a time",
    Restriction.termination: "the account was closed",
    Restriction.api_key_revocation: "the API key was revoked",
    Restriction.no_action: "no action: no breach of the policies was found",
}

APPEAL_OUTCOME_WORDS = {
    AppealOutcome.upheld: "The appeal was rejected: the decision stands.",
    AppealOutcome.partially_reversed: "The appeal succeeded in part: the decision was changed.",
    AppealOutcome.reversed: "The appeal succeeded: the decision was reversed.",
    AppealOutcome.omitted: "The appeal was closed without a review (withdrawn or not admissible).",
}


@dataclass(frozen=True)
class DecisionNotice:
    """A decision as its statement of reasons presents it (DSA Art. 17(3))."""

    restriction: str
    restriction_words: str
    duration_days: int | None
    territorial_scope: list[str]
    clause_label: str
    clause_description: str
    facts: str
    ground: str
    automated_detection: bool
    automated_decision: bool
    redress: str
    decided_at: datetime
    appeal_until: datetime
    appeal_outcome: str | None


@dataclass(frozen=True)
class ReporterView:
    reference: str
    received_at: datetime
    category: str
    status: PublicStatus
    outcome: str | None


@dataclass(frozen=True)
class AffectedUserView:
    reference: str
    status: PublicStatus
    subject: str
    notice: DecisionNotice | None


def clause_words(clause_id: str | None) -> tuple[str, str]:
    """A clause's label and plain description (its id when the taxonomy no longer has it)."""
    try:
        clause = definitions().policy.clause(clause_id or "")
    except KeyError:
        return clause_id or "unspecified", ""
    return clause.label, clause.description


def latest_appeal(session: Session, decision: Decision) -> Appeal | None:
    return session.exec(
        select(Appeal).where(Appeal.decision_id == decision.id).order_by(col(Appeal.id).desc())
    ).first()


def decision_made(session: Session, *, case: Case, event_id: int | None = None) -> Decision | None:
    """The decision transition event `event_id` made, else the case's latest decision."""
    if event_id is not None:
        made = session.exec(
            select(Decision).where(
                Decision.case_id == case.id, Decision.transition_event_id == event_id
            )
        ).first()
        if made is not None:
            return made
    return latest_decision(session, case.id)


def decision_notice(
    session: Session, *, case: Case, event_id: int | None = None
) -> DecisionNotice | None:
    """The statement of reasons of a decision on the case (see `decision_made`), as the affected
    user sees it; None before any decision."""
    decision = decision_made(session, case=case, event_id=event_id)
    if decision is None:
        return None
    label, description = clause_words(decision.policy_clause)
    appeal = latest_appeal(session, decision)
    outcome = appeal.outcome if appeal is not None else None
    return DecisionNotice(
        restriction=decision.restriction,
        restriction_words=RESTRICTION_WORDS.get(decision.restriction, decision.restriction),
        duration_days=decision.duration_days,
        territorial_scope=list(decision.territorial_scope),
        clause_label=label,
        clause_description=description,
        facts=decision.facts,
        ground=decision.ground,
        automated_detection=decision.automated_detection,
        automated_decision=decision.automated_decision,
        redress=decision.redress,
        decided_at=decision.decided_at,
        appeal_until=decision.decided_at + APPEAL_WINDOW,
        appeal_outcome=APPEAL_OUTCOME_WORDS.get(outcome) if outcome else None,
    )


def public_status(session: Session, *, case: Case) -> PublicStatus:
    """The case's stage in plain words; once an outcome is known, what it was."""
    state = get_state(case_workflow(session, case), case.state)
    if state.terminal:
        return PublicStatus.closed
    if case.stage == Stage.intake:
        return PublicStatus.received
    # Staff still have work to do before an outcome: a queue in a non-resolved stage.
    outcome_known = case.stage == Stage.resolved or (
        case.stage == Stage.enforcement and state.queue is None
    )
    if not outcome_known:
        return PublicStatus.under_review
    decision = latest_decision(session, case.id)
    if decision is None:
        reported = session.exec(
            select(CaseEvent.id).where(
                CaseEvent.case_id == case.id, CaseEvent.type == EventType.ncmec_report_finished
            )
        ).first()
        return PublicStatus.action_taken if reported is not None else PublicStatus.no_action
    appeal = latest_appeal(session, decision)
    lifted = appeal is not None and appeal.outcome == AppealOutcome.reversed
    if decision.restriction == Restriction.no_action or lifted:
        return PublicStatus.no_action
    return PublicStatus.action_taken


def reporter_view(session: Session, *, report: Report) -> ReporterView:
    """A reporter's own report and what became of it; nothing about other people."""
    case = session.get(Case, report.case_id)
    status = public_status(session, case=case)
    outcome = None
    if status in (PublicStatus.action_taken, PublicStatus.no_action, PublicStatus.closed):
        decision = latest_decision(session, case.id)
        if decision is not None:
            label, _ = clause_words(decision.policy_clause)
            words = RESTRICTION_WORDS.get(decision.restriction, decision.restriction)
            outcome = f"Decided on {decision.decided_at:%d %B %Y}: {words} ({label})."
    return ReporterView(
        reference=case.reference,
        received_at=report.received_at,
        category=clause_words(report.policy_clause)[0],
        status=status,
        outcome=outcome,
    )


def affected_user_view(session: Session, *, case: Case) -> AffectedUserView:
    """The decision about the affected user and how to appeal it; no reporter is named."""
    subject = session.get(Subject, case.subject_id)
    return AffectedUserView(
        reference=case.reference,
        status=public_status(session, case=case),
        subject=subject.display or subject.external_id,
        notice=decision_notice(session, case=case),
    )
