"""Notices of misuse from the public (DSA Art. 16), from the web form and the JSON API alike:
checked, recorded on their case, with each attachment as evidence.

Attachments are hashed before the notice is routed, so one carrying a known child sexual abuse
file opens or joins a child-safety case and is stored in the restricted area from the start.

A notice is anonymous whatever name and email it gives (nothing confirms them): its reporter is
counted by the client address it came from, and the display name and contact it gives a subject
are not taken (`cases.intake.service`, module docstring)."""

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlmodel import Session

from cases.core.uploads import Attachment
from cases.enums import ReportSource, SubjectKind
from cases.evidence.service import hash_attachments, store_attachments
from cases.intake.service import (
    IntakeError,
    IntakeItem,
    IntakeOutcome,
    SubjectRef,
    content_subject,
    receive,
)
from cases.lifecycle.actors import Actor

PORTAL = Actor.system("public_report")


@dataclass(frozen=True)
class PublicReport:
    """A notice of misuse as the public gives it (DSA Art. 16 elements)."""

    category: str
    explanation: str
    url: str | None = None  # where it happened (the JSON API's `location`)
    content_id: str | None = None
    account_id: str | None = None
    reporter_name: str | None = None
    reporter_email: str | None = None
    good_faith: bool = False
    # The JSON API's `subject`, when the sender names it (its display name and contact unused).
    named_subject: SubjectRef | None = None

    def subject(self) -> SubjectRef:
        """The subject named, else the account, else the content (by its id, else its URL)."""
        if self.named_subject:
            return self.named_subject
        if self.account_id:
            return SubjectRef(kind=SubjectKind.account, external_id=self.account_id)
        return content_subject(self.content_id or self.url or "")

    def problems(self) -> list[IntakeError]:
        """What keeps the notice from being taken in, each error naming its field."""
        problems = []
        if not (self.url or self.content_id or self.account_id):
            problems.append(
                IntakeError(
                    "Say where it happened: a web address, or the id of the content or account.",
                    field="url",
                )
            )
        if not self.good_faith:
            problems.append(
                IntakeError(
                    "Confirm the good-faith statement to send the report.", field="good_faith"
                )
            )
        return problems


def submit_public_report(
    session: Session,
    *,
    report: PublicReport,
    attachments: Sequence[Attachment] = (),
    raw_payload: str | None = None,
    client: str | None = None,
    now: datetime | None = None,
) -> IntakeOutcome:
    """Record a notice from the public on its case, with each attachment as evidence (`client`:
    the address it came from, by which its reporter is counted)."""
    if problems := report.problems():
        raise problems[0]  # the channels show them all, beside their own checks, before this
    item = IntakeItem(
        source=ReportSource.user_report,
        subject=report.subject(),
        # Evidence: a sender's own text is kept verbatim; the form sends none, so it is rendered.
        raw_payload=_rendering(report, attachments) if raw_payload is None else raw_payload,
        clause_id=report.category,
        location=report.url,
        explanation=report.explanation,
        reporter_name=report.reporter_name,
        reporter_email=report.reporter_email,
        good_faith=report.good_faith,
        content_ref=report.content_id,
        files=tuple(hash_attachments(attachments)),
        public=True,
        client=client,
    )
    outcome = receive(session, item=item, actor=PORTAL, now=now)
    store_attachments(
        session,
        case=outcome.case,
        attachments=attachments,
        actor=PORTAL,
        context={"report_id": outcome.report_id},
        now=now,
    )
    return outcome


def _rendering(report: PublicReport, attachments: Sequence[Attachment]) -> str:
    """The notice and its attachments' names, types and sizes as JSON."""
    elements = asdict(report)
    if report.named_subject is None:
        # The web form names none: leaving the key out keeps its records in the shape they had.
        del elements["named_subject"]
    elements["attachments"] = [
        {"filename": a.filename, "media_type": a.media_type, "size": a.size} for a in attachments
    ]
    return json.dumps(elements, sort_keys=True, ensure_ascii=False)
