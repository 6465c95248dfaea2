"""Notification jobs: email to reporters and to affected users, each recorded on the case.

`notify_reporter` is enqueued by intake (args: case_id, report_id, kind="acknowledgement") and by
workflow transitions (args: case_id, event_id, transition); `notify_affected_user` by transitions.
Every message sent, or not sent and why, is a `notification_sent` event in the job's transaction;
the address goes in the event's payload, which erasure can remove. A job that finds an event of
its own outbox id on the case has already run and does nothing. A job that dies after sending and
before its commit sends again, under the same Message-ID (derived from the outbox id).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, render_template
from sqlmodel import Session, col, select

from cases.core.mail import mail_enabled, message_id, send_mail
from cases.core.sqltypes import utcnow
from cases.enums import AppellantKind, EventType, ReportSource
from cases.jobs.registry import job
from cases.lifecycle.actors import Actor
from cases.models import Case, Outbox, Report, Subject
from cases.notices.wording import decision_notice
from cases.portal.links import affected_user_link, link_lifetime, status_link
from cases.portal.service import reporter_view
from cases.trail.models import CaseEvent, EventPayload
from cases.trail.store import append_event

NO_MAIL_SERVER = "no mail server configured"
INFORMATION_REQUEST = "request_information"


@dataclass(frozen=True)
class Message:
    """One email to one address, and what its trail event notes besides the outcome."""

    to: str
    subject: str
    template: str
    context: dict[str, Any]
    key: str  # gives the Message-ID, so a resend after a crash repeats the first send's
    details: dict[str, Any] = field(default_factory=dict)


def already_notified(session: Session, *, case: Case, outbox: Outbox) -> bool:
    """Whether this outbox row's notifications are already on the case's trail."""
    payloads = session.exec(
        select(EventPayload.payload)
        .join(CaseEvent, col(CaseEvent.id) == EventPayload.event_id)
        .where(CaseEvent.case_id == case.id, CaseEvent.type == EventType.notification_sent)
    )
    return any(json.loads(payload).get("outbox_id") == outbox.id for payload in payloads)


def send_or_record(
    session: Session,
    outbox: Outbox,
    *,
    case: Case,
    kind: str,
    role: AppellantKind,
    messages: Sequence[Message],
    unsent: str,
    contact: str | None = None,
    **details: Any,
) -> None:
    """Send and record an outbox row's messages, or record why there are none (`unsent`)."""
    if already_notified(session, case=case, outbox=outbox):
        return

    def record(recipient: str | None, *, reason: str | None, **extra: Any) -> None:
        append_event(
            session,
            case=case,
            type=EventType.notification_sent,
            actor=Actor.system(f"job:{outbox.id}").label,
            payload={
                "outbox_id": outbox.id,
                "kind": kind,
                "recipient_role": role.value,
                "recipient": recipient,
                "sent": reason is None,
                "reason": None if reason is None else f"not sent: {reason}",
                **extra,
                **details,
            },
        )

    if not messages:
        record(contact, reason=unsent)
        return
    config = current_app.config
    for message in messages:
        if not mail_enabled(config):
            record(message.to, reason=NO_MAIL_SERVER, **message.details)
            continue
        identifier = message_id(config, message.key)
        send_mail(
            to=message.to,
            subject=message.subject,
            text=render_template(message.template, **message.context),
            config=config,
            message_id=identifier,
        )
        record(message.to, reason=None, message_id=identifier, **message.details)


def _reports_to_tell(session: Session, case: Case) -> list[Report]:
    """The case's notices with an email address, one (the earliest) per address."""
    reports = session.exec(
        select(Report)
        .where(
            Report.case_id == case.id,
            Report.source == ReportSource.user_report,
            col(Report.reporter_email).is_not(None),
        )
        .order_by(col(Report.id))
    ).all()
    earliest: dict[str, Report] = {}
    for report in reports:
        earliest.setdefault(report.reporter_email.strip().lower(), report)
    return list(earliest.values())


def _transition_note(session: Session, event_id: int | None) -> str | None:
    payload = session.get(EventPayload, event_id) if event_id is not None else None
    if payload is None:
        return None
    return json.loads(payload.payload).get("fields", {}).get("note")


@job("notify_reporter", queue="notify")
def notify_reporter(
    session: Session,
    outbox: Outbox,
    *,
    case_id: int,
    report_id: int | None = None,
    kind: str = "acknowledgement",
    event_id: int | None = None,
    transition: str | None = None,
) -> None:
    """Acknowledge a report, or tell the case's reporters what has become of it."""
    case = session.get(Case, case_id)
    if report_id is not None:
        reports = [session.get(Report, report_id)]
    else:
        reports = _reports_to_tell(session, case)
        kind = "information_request" if transition == INFORMATION_REQUEST else "outcome"
    question = _transition_note(session, event_id) if kind == "information_request" else None
    messages = [
        Message(
            to=report.reporter_email,
            subject=f"Your report {case.reference}",
            template=f"notices/mail/reporter_{kind}.txt",
            context={
                "view": reporter_view(session, report=report),
                "link": status_link(report),
                "link_expires": utcnow() + link_lifetime(),
                "question": question,
            },
            key=f"{outbox.id}.{report.id}",
            details={"report_id": report.id},
        )
        for report in reports
        if report.reporter_email
    ]
    send_or_record(
        session,
        outbox,
        case=case,
        kind=kind,
        role=AppellantKind.reporter,
        messages=messages,
        unsent="no reporter contact known",
    )


@job("notify_affected_user", queue="notify")
def notify_affected_user(
    session: Session,
    outbox: Outbox,
    *,
    case_id: int,
    event_id: int | None = None,
    transition: str | None = None,
) -> None:
    """Send the affected user the decision: its statement of reasons and how to appeal."""
    case = session.get(Case, case_id)
    contact = session.get(Subject, case.subject_id).contact_email
    notice = decision_notice(session, case=case, event_id=event_id)
    kind = "appeal_outcome" if notice and notice.appeal_outcome else "decision_notice"
    messages: list[Message] = []
    if contact and notice is not None:
        subject = (
            f"The outcome of your appeal ({case.reference})"
            if kind == "appeal_outcome"
            else f"A decision about your account ({case.reference})"
        )
        messages.append(
            Message(
                to=contact,
                subject=subject,
                template="notices/mail/affected_user_decision.txt",
                context={
                    "reference": case.reference,
                    "notice": notice,
                    "link": affected_user_link(case),
                    "link_expires": utcnow() + link_lifetime(),
                },
                key=str(outbox.id),
            )
        )
    send_or_record(
        session,
        outbox,
        case=case,
        kind=kind,
        role=AppellantKind.affected_user,
        messages=messages,
        unsent="no decision yet" if contact else "no contact known for the affected user",
        contact=contact,
        transition=transition,
    )
