"""Notification jobs: email to reporters and to affected users, each recorded on the case.

`notify_reporter` is enqueued by intake (args: case_id, report_id, kind="acknowledgement") and by
workflow transitions (args: case_id, event_id, transition); `notify_affected_user` by transitions.
Every message sent, or not sent and why, is a `notification_sent` event in the job's transaction;
the address goes in the event's payload, which erasure can remove. A job that finds an event of
its own outbox id on the case has already run and does nothing. A job that dies after sending and
before its commit sends again, under the same Message-ID (derived from the outbox id).
"""

import json

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

NO_MAIL_SERVER = "not sent: no mail server configured"
INFORMATION_REQUEST = "request_information"


def already_notified(session: Session, *, case: Case, outbox: Outbox) -> bool:
    """Whether this outbox row's notifications are already on the case's trail."""
    payloads = session.exec(
        select(EventPayload.payload)
        .join(CaseEvent, col(CaseEvent.id) == EventPayload.event_id)
        .where(CaseEvent.case_id == case.id, CaseEvent.type == EventType.notification_sent)
    )
    return any(json.loads(payload).get("outbox_id") == outbox.id for payload in payloads)


def _record(
    session: Session,
    outbox: Outbox,
    *,
    case: Case,
    kind: str,
    role: AppellantKind,
    recipient: str | None,
    sent: bool,
    reason: str | None = None,
    **details,
) -> None:
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
            "sent": sent,
            "reason": reason,
            **details,
        },
    )


def _deliver(
    session: Session,
    outbox: Outbox,
    *,
    case: Case,
    kind: str,
    role: AppellantKind,
    to: str,
    subject: str,
    text: str,
    key: str,
    **details,
) -> None:
    """Send one message (or note that no mail server is configured) and record it."""
    config = current_app.config
    if not mail_enabled(config):
        _record(
            session,
            outbox,
            case=case,
            kind=kind,
            role=role,
            recipient=to,
            sent=False,
            reason=NO_MAIL_SERVER,
            **details,
        )
        return
    identifier = message_id(config, key)
    send_mail(to=to, subject=subject, text=text, config=config, message_id=identifier)
    _record(
        session,
        outbox,
        case=case,
        kind=kind,
        role=role,
        recipient=to,
        sent=True,
        message_id=identifier,
        **details,
    )


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
    if already_notified(session, case=case, outbox=outbox):
        return
    role = AppellantKind.reporter
    if report_id is not None:
        reports = [session.get(Report, report_id)]
    else:
        reports = _reports_to_tell(session, case)
        kind = "information_request" if transition == INFORMATION_REQUEST else "outcome"
    question = _transition_note(session, event_id) if kind == "information_request" else None
    told = [r for r in reports if r.reporter_email]
    if not told:
        _record(
            session,
            outbox,
            case=case,
            kind=kind,
            role=role,
            recipient=None,
            sent=False,
            reason="not sent: no reporter contact known",
        )
        return
    for report in told:
        text = render_template(
            f"notices/mail/reporter_{kind}.txt",
            view=reporter_view(session, report=report),
            link=status_link(report),
            link_expires=utcnow() + link_lifetime(),
            question=question,
        )
        _deliver(
            session,
            outbox,
            case=case,
            kind=kind,
            role=role,
            to=report.reporter_email,
            subject=f"Your report {case.reference}",
            text=text,
            key=f"{outbox.id}.{report.id}",
            report_id=report.id,
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
    if already_notified(session, case=case, outbox=outbox):
        return
    role = AppellantKind.affected_user
    contact = session.get(Subject, case.subject_id).contact_email
    notice = decision_notice(session, case=case, event_id=event_id)
    kind = "appeal_outcome" if notice and notice.appeal_outcome else "decision_notice"
    if not contact or notice is None:
        reason = "no contact known for the affected user" if not contact else "no decision yet"
        _record(
            session,
            outbox,
            case=case,
            kind=kind,
            role=role,
            recipient=contact,
            sent=False,
            reason=f"not sent: {reason}",
            transition=transition,
        )
        return
    text = render_template(
        "notices/mail/affected_user_decision.txt",
        reference=case.reference,
        notice=notice,
        link=affected_user_link(case),
        link_expires=utcnow() + link_lifetime(),
    )
    subject = (
        f"The outcome of your appeal ({case.reference})"
        if kind == "appeal_outcome"
        else f"A decision about your account ({case.reference})"
    )
    _deliver(
        session,
        outbox,
        case=case,
        kind=kind,
        role=role,
        to=contact,
        subject=subject,
        text=text,
        key=str(outbox.id),
        transition=transition,
    )
