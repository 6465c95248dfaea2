"""Messages to people: which notice goes to whom through which channels, what it says, its
delivery by email and by the operator's `notice` webhook, and what the case page shows of it.

A notification job plans its messages once: a `Message` row per recipient and channel, tied to the
job's outbox row. A row that can go nowhere (no contact, no channel) is written `not_sent`, with a
`notification_sent` event saying why. Delivery then works through the rows still due, so a retry
after a failed attempt resends only those, and a finished job run again finds nothing to do. Every
attempt is a `notification_sent` event with its channel and result.

Affected users are told per NOTICE_DELIVERY: by email to the subject's contact address, and as a
signed `notice` webhook event that the operator shows in its own product (each where configured).
Reporters are told by email only: the operator's platform does not know them. Email goes over SMTP
when MAIL_SERVER is set, else to the embedded outbox (`cases.core.mail`).
"""

import json
import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, render_template
from sqlmodel import Session, col, select, update

from cases.core.mail import (
    compose_mail,
    mail_enabled,
    message_id,
    outbox_folder,
    send_mail,
    write_to_outbox,
)
from cases.core.sqltypes import utcnow
from cases.decisions.webhooks import (
    NOT_CONFIGURED,
    deliver,
    idempotency_key,
    json_body,
    public_url,
)
from cases.enums import (
    AppellantKind,
    EventType,
    MessageChannel,
    MessageStatus,
    NoticeKind,
    ReportSource,
)
from cases.jobs.outbox import enqueue_job
from cases.jobs.registry import AttemptFailed
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import case_workflow
from cases.models import Appeal, Case, Decision, Message, Outbox, Report, StatusLink, Subject
from cases.notices.wording import (
    APPEAL_OUTCOME_WORDS,
    decision_made,
    decision_notice,
    dispute_settlement_bodies,
)
from cases.portal.links import issue_link, link_url
from cases.portal.service import reporter_view
from cases.trail.models import EventPayload
from cases.trail.store import append_event
from workflows import get_transition

NO_REPORTER_CONTACT = "no contact known for the reporter"
NO_CONTACT = "no contact known for the affected user"
NO_WEBHOOK = "no webhook configured (WEBHOOK_URL)"
NO_DECISION = "no decision yet"
INFORMATION_REQUEST = "request_information"
NOTICE_DELIVERIES = ("email", "webhook", "both")
MAX_REASON_CHARS = 500

DUE = (MessageStatus.pending, MessageStatus.failed)
UNDELIVERED = (MessageStatus.not_sent, MessageStatus.failed)
# The notices that tell a person of a decision against them: the appeal window runs from the
# first delivery of one (DSA Art. 20(1)).
INFORMING = (NoticeKind.decision_notice, NoticeKind.appeal_outcome)

REPORTER, AFFECTED_USER = AppellantKind.reporter, AppellantKind.affected_user
# (who, what) → (template under templates/notices/mail/, without extension; subject line).
TEMPLATES = {
    (REPORTER, NoticeKind.receipt): ("reporter_receipt", "Your report {reference}"),
    (REPORTER, NoticeKind.information_request): (
        "reporter_information_request",
        "A question about your report {reference}",
    ),
    (REPORTER, NoticeKind.outcome): ("reporter_outcome", "The outcome of your report {reference}"),
    (REPORTER, NoticeKind.appeal_received): (
        "reporter_appeal_received",
        "We received your appeal ({reference})",
    ),
    (REPORTER, NoticeKind.appeal_outcome): (
        "reporter_appeal_outcome",
        "The outcome of your appeal ({reference})",
    ),
    (AFFECTED_USER, NoticeKind.decision_notice): (
        "affected_user_decision",
        "A decision about your account ({reference})",
    ),
    (AFFECTED_USER, NoticeKind.appeal_outcome): (
        "affected_user_decision",
        "The outcome of your appeal ({reference})",
    ),
    (AFFECTED_USER, NoticeKind.appeal_received): (
        "affected_user_appeal_received",
        "We received your appeal ({reference})",
    ),
}
# Intake enqueues the reporter's receipt under the job's older name for it.
KIND_ARGUMENTS = {"acknowledgement": NoticeKind.receipt}


@dataclass(frozen=True)
class Addressee:
    """One person a notice goes to, what it is, and what it is about."""

    kind: NoticeKind
    role: AppellantKind
    report: Report | None = None
    decision: Decision | None = None


@dataclass(frozen=True)
class Letter:
    """A message as rendered for one recipient."""

    subject: str
    text: str
    html: str
    link: str


@dataclass(frozen=True)
class MessageLine:
    """A message as the case page lists it; `undelivered`: its notice reached nobody."""

    message: Message
    undelivered: bool


# --- who is told what ----------------------------------------------------------------------------


def _notice_kind(kind: str) -> NoticeKind:
    return KIND_ARGUMENTS.get(kind) or NoticeKind(kind)


def the_appeal(session: Session, *, case: Case, appeal_id: int | None) -> Appeal | None:
    """Appeal `appeal_id`, else the case's latest decided appeal."""
    if appeal_id is not None:
        return session.get(Appeal, appeal_id)
    return session.exec(
        select(Appeal)
        .where(Appeal.case_id == case.id, col(Appeal.outcome).is_not(None))
        .order_by(col(Appeal.id).desc())
    ).first()


def ends_appeal(session: Session, *, case: Case, transition: str | None) -> bool:
    """Whether `transition` (None: not a transition) decides an appeal on the case."""
    if transition is None:
        return False
    return get_transition(case_workflow(session, case), transition).ends_appeal is not None


def affected_user_addressee(
    session: Session,
    *,
    case: Case,
    kind: str | None,
    event_id: int | None,
    transition: str | None,
    appeal: Appeal | None,
) -> Addressee | None:
    """What the affected user is told; None when it is none of their business."""
    if kind is not None:
        if appeal is None or appeal.appellant != AFFECTED_USER:
            return None
        return Addressee(
            _notice_kind(kind), AFFECTED_USER, decision=session.get(Decision, appeal.decision_id)
        )
    decision = decision_made(session, case=case, event_id=event_id)
    if appeal is not None and ends_appeal(session, case=case, transition=transition):
        if appeal.appellant == AFFECTED_USER:
            return Addressee(NoticeKind.appeal_outcome, AFFECTED_USER, decision=decision)
        # A reporter's appeal concerns the affected user only when it changed the decision.
        if appeal.resulting_decision_id is None:
            return None
    return Addressee(NoticeKind.decision_notice, AFFECTED_USER, decision=decision)


def reports_to_tell(session: Session, *, case: Case) -> list[Report]:
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


def appealing_reporter(
    session: Session, *, case: Case, transition: str | None, appeal: Appeal | None
) -> Report | None:
    """The report of the reporter whose appeal `transition` decided, if a reporter appealed."""
    if appeal is None or appeal.appellant != REPORTER or appeal.report_id is None:
        return None
    if not ends_appeal(session, case=case, transition=transition):
        return None
    return session.get(Report, appeal.report_id)


def reporter_addressees(
    session: Session,
    *,
    case: Case,
    report_id: int | None,
    kind: str | None,
    transition: str | None,
    appeal: Appeal | None,
) -> list[Addressee]:
    """The reporters to tell and what: a receipt, a question, the outcome, their appeal's."""
    if kind is not None:
        kind = _notice_kind(kind)
        if kind == NoticeKind.appeal_received:
            if appeal is None or appeal.appellant != REPORTER:
                return []
            report_id = report_id or appeal.report_id
        report = session.get(Report, report_id) if report_id is not None else None
        return [Addressee(kind, REPORTER, report=report)] if report else []
    told = (
        NoticeKind.information_request if transition == INFORMATION_REQUEST else NoticeKind.outcome
    )
    appellant = None
    if told == NoticeKind.outcome:
        appellant = appealing_reporter(session, case=case, transition=transition, appeal=appeal)
    addressees = (
        [Addressee(NoticeKind.appeal_outcome, REPORTER, report=appellant)] if appellant else []
    )
    address = (appellant.reporter_email or "").strip().lower() if appellant else None
    addressees += [
        Addressee(told, REPORTER, report=report)
        for report in reports_to_tell(session, case=case)
        if report.reporter_email.strip().lower() != address
    ]
    # No reporter left an address (a detection, an anonymous child-safety report): there is
    # nobody to tell, which is not a notice gone astray.
    return addressees


def transition_question(session: Session, *, event_id: int | None) -> str | None:
    """The question a `request_information` transition asked (never its internal note)."""
    payload = session.get(EventPayload, event_id) if event_id is not None else None
    if payload is None:
        return None
    return json.loads(payload.payload).get("fields", {}).get("question")


# --- planning ------------------------------------------------------------------------------------


def planned_messages(session: Session, *, outbox: Outbox) -> list[Message]:
    """The messages outbox row `outbox` planned, if it ran before."""
    return list(
        session.exec(select(Message).where(Message.outbox_id == outbox.id).order_by(Message.id))
    )


def email_channel(config: Mapping[str, Any]) -> MessageChannel:
    """SMTP when a mail server is configured, else the embedded outbox."""
    return MessageChannel.email if mail_enabled(config) else MessageChannel.outbox


def affected_user_routes(
    config: Mapping[str, Any], *, contact: str | None
) -> tuple[list[tuple[MessageChannel, str]], list[tuple[MessageChannel, None, str]]]:
    """The channels NOTICE_DELIVERY names for an affected user: (channel, recipient) for those
    that can carry a notice, (channel, None, why not) for those that cannot."""
    delivery = config["NOTICE_DELIVERY"]
    if delivery not in NOTICE_DELIVERIES:
        raise ValueError(f"NOTICE_DELIVERY must be one of {', '.join(NOTICE_DELIVERIES)}")
    routes, missing = [], []
    if delivery in ("email", "both"):
        channel = email_channel(config)
        if contact:
            routes.append((channel, contact))
        else:
            missing.append((channel, None, NO_CONTACT))
    if delivery in ("webhook", "both"):
        if config.get("WEBHOOK_URL"):
            routes.append((MessageChannel.webhook, public_url(config["WEBHOOK_URL"])))
        else:
            missing.append((MessageChannel.webhook, None, NO_WEBHOOK))
    return routes, missing


def _routes(
    session: Session, *, case: Case, addressee: Addressee
) -> tuple[list[tuple[MessageChannel, str]], list[tuple[MessageChannel, str | None, str]]]:
    """Where a notice to `addressee` goes, or, when nowhere, each channel and why not."""
    config = current_app.config
    if addressee.role == REPORTER:
        email = addressee.report.reporter_email if addressee.report else None
        if email:
            return [(email_channel(config), email)], []
        return [], [(email_channel(config), None, NO_REPORTER_CONTACT)]
    contact = session.get(Subject, case.subject_id).contact_email
    routes, missing = affected_user_routes(config, contact=contact)
    if addressee.decision is None:
        return [], [(channel, recipient, NO_DECISION) for channel, recipient in routes] or missing
    return routes, [] if routes else missing


def _message(
    *,
    outbox: Outbox,
    case: Case,
    addressee: Addressee,
    channel: MessageChannel,
    recipient: str | None,
    link: StatusLink | None = None,
    reason: str | None = None,
) -> Message:
    template, subject = TEMPLATES[(addressee.role, addressee.kind)]
    return Message(
        case_id=case.id,
        outbox_id=outbox.id,
        kind=addressee.kind,
        recipient_role=addressee.role,
        report_id=addressee.report.id if addressee.report else None,
        decision_id=addressee.decision.id if addressee.decision else None,
        link_id=link.id if link else None,
        channel=channel,
        recipient=recipient,
        subject=subject.format(reference=case.reference),
        template=template,
        status=MessageStatus.pending if reason is None else MessageStatus.not_sent,
        reason=reason,
    )


def plan_messages(
    session: Session,
    *,
    outbox: Outbox,
    case: Case,
    addressees: Sequence[Addressee],
    webhook_args: Mapping[str, Any],
    details: Mapping[str, Any],
) -> list[Message]:
    """Write the messages to `addressees` (or why one cannot be told), issue the private links
    they carry, and queue each webhook delivery. Called once per outbox row."""
    actor = Actor.system(f"job:{outbox.id}")
    planned: list[Message] = []
    for addressee in addressees:
        routes, missing = _routes(session, case=case, addressee=addressee)
        link = None
        if routes:
            link = issue_link(
                session, case=case, holder=addressee.role, report=addressee.report, actor=actor
            )
        planned += [
            _message(
                outbox=outbox,
                case=case,
                addressee=addressee,
                channel=channel,
                recipient=recipient,
                link=link,
            )
            for channel, recipient in routes
        ]
        planned += [
            _message(
                outbox=outbox,
                case=case,
                addressee=addressee,
                channel=channel,
                recipient=recipient,
                reason=reason,
            )
            for channel, recipient, reason in missing
        ]
    session.add_all(planned)
    session.flush()
    for message in planned:
        if message.status == MessageStatus.not_sent:
            record_attempt(session, case=case, message=message, actor=actor, details=details)
        elif message.channel == MessageChannel.webhook:
            enqueue_job(
                session,
                job="send_notice_webhook",
                args={"case_id": case.id, "message_id": message.id, **webhook_args},
                case_id=case.id,
            )
    return planned


# --- what a message says -------------------------------------------------------------------------


def compose(
    session: Session,
    *,
    case: Case,
    message: Message,
    appeal: Appeal | None = None,
    question: str | None = None,
) -> Letter:
    """Render a message's text and HTML for its recipient."""
    link = session.get(StatusLink, message.link_id)
    url = link_url(link)
    context: dict[str, Any] = {
        "subject": message.subject,
        "reference": case.reference,
        "link": url,
        "link_expires": link.expires_at,
        "appeal": appeal,
        "appeal_outcome": APPEAL_OUTCOME_WORDS.get(appeal.outcome) if appeal else None,
        "dispute_bodies": dispute_settlement_bodies(),
    }
    if message.recipient_role == REPORTER:
        # The reporter's own view: the outcome in general terms, never the affected user's
        # restriction, its length or anything personal.
        context["view"] = reporter_view(session, report=session.get(Report, message.report_id))
        context["question"] = question
    elif message.decision_id is not None:
        context["notice"] = decision_notice(
            session,
            case=case,
            decision=session.get(Decision, message.decision_id),
            as_of=message.created_at,
        )
    template = f"notices/mail/{message.template}"
    return Letter(
        subject=message.subject,
        text=render_template(f"{template}.txt", **context),
        html=render_template(f"{template}.html", **context),
        link=url,
    )


def notice_body(
    *, case: Case, subject: Subject, message: Message, letter: Letter, delivery: int
) -> bytes:
    """The `notice` webhook event's bytes."""
    return json_body(
        {
            "event": "notice",
            "case": case.reference,
            "subject": {"kind": subject.kind, "id": subject.external_id},
            "notice": {"kind": message.kind, "text": letter.text, "link": letter.link},
            "idempotency_key": idempotency_key(delivery),
        }
    )


# --- delivery ------------------------------------------------------------------------------------


def record_attempt(
    session: Session,
    *,
    case: Case,
    message: Message,
    actor: Actor,
    details: Mapping[str, Any],
    **result: Any,
) -> None:
    """The `notification_sent` event of a message's attempt (or of why none was made)."""
    sent = message.status == MessageStatus.sent
    append_event(
        session,
        case=case,
        type=EventType.notification_sent,
        actor=actor.label,
        payload={
            "outbox_id": message.outbox_id,
            "kind": message.kind,
            "recipient_role": message.recipient_role,
            "recipient": message.recipient,
            "sent": sent,
            "reason": None if sent else f"not sent: {message.reason}",
            "message_id": message.message_id,
            "channel": message.channel,
            "attempt": message.attempts,
            **({"report_id": message.report_id} if message.recipient_role == REPORTER else {}),
            **details,
            **result,
        },
    )


def _mark_informed(session: Session, message: Message, at: datetime) -> None:
    if message.recipient_role != AFFECTED_USER or message.kind not in INFORMING:
        return
    # A conditional update, so the first channel to deliver sets it even when two race.
    session.execute(
        update(Decision)
        .where(col(Decision.id) == message.decision_id, col(Decision.informed_at).is_(None))
        .values(informed_at=at)
    )


def _settle(
    session: Session,
    *,
    case: Case,
    message: Message,
    running: Outbox,
    error: str | None,
    permanent: bool = False,
    details: Mapping[str, Any],
    **result: Any,
) -> None:
    """Note the outcome of an attempt on the message and on the trail. A failure is final on the
    job's last attempt (an admin's retry of the job takes it up again) or when `permanent`."""
    if error is None:
        message.status = MessageStatus.sent
        message.sent_at = utcnow()
        message.reason = None
        _mark_informed(session, message, message.sent_at)
    else:
        final = permanent or running.attempts + 1 >= running.max_attempts
        message.status = MessageStatus.failed if final else MessageStatus.pending
        message.reason = error[:MAX_REASON_CHARS]
    session.add(message)
    actor = Actor.system(f"job:{running.id}")
    record_attempt(session, case=case, message=message, actor=actor, details=details, **result)


def _email_key(message: Message) -> str:
    # The Message-ID and outbox file name: one per notice and recipient, the same on every retry.
    if message.report_id is None:
        return str(message.outbox_id)
    return f"{message.outbox_id}.{message.report_id}"


def deliver_emails(
    session: Session,
    *,
    running: Outbox,
    case: Case,
    messages: Sequence[Message],
    appeal: Appeal | None = None,
    question: str | None = None,
    details: Mapping[str, Any],
) -> None:
    """Make one attempt at each email message still due; AttemptFailed (after recording them)
    when any failed and may succeed on a retry."""
    config = current_app.config
    failures = []
    for message in messages:
        if message.channel == MessageChannel.webhook or message.status not in DUE:
            continue
        letter = compose(session, case=case, message=message, appeal=appeal, question=question)
        message.attempts += 1
        message.channel = email_channel(config)
        message.message_id = message_id(config, _email_key(message))
        mail = compose_mail(
            to=message.recipient,
            subject=letter.subject,
            text=letter.text,
            html=letter.html,
            config=config,
            message_id=message.message_id,
            case=case.reference,
        )
        try:
            if message.channel == MessageChannel.email:
                send_mail(mail, config=config)
            else:
                write_to_outbox(mail, folder=outbox_folder(current_app), key=_email_key(message))
        except smtplib.SMTPRecipientsRefused as exc:
            # The server refused the address itself: retrying the same address cannot help.
            error = f"the address was refused: {exc.recipients}"
            _settle(
                session,
                case=case,
                message=message,
                running=running,
                error=error,
                permanent=True,
                details=details,
            )
        except (smtplib.SMTPException, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            _settle(
                session, case=case, message=message, running=running, error=error, details=details
            )
            failures.append(error)
        else:
            _settle(
                session, case=case, message=message, running=running, error=None, details=details
            )
    if failures:
        raise AttemptFailed("; ".join(failures))


def deliver_notice_webhook(
    session: Session,
    *,
    running: Outbox,
    case: Case,
    message: Message,
    appeal: Appeal | None = None,
    details: Mapping[str, Any],
) -> None:
    """Make one attempt at a webhook message still due; WebhookFailed (an AttemptFailed, after
    recording it) when it failed and may succeed on a retry."""
    if message.status not in DUE:
        return
    message.attempts += 1

    def record(*, sent: bool, result: str, **where: Any) -> None:
        delivery = {"delivery": running.id, "result": result, **where}
        if result == NOT_CONFIGURED:
            message.status, message.reason = MessageStatus.not_sent, NO_WEBHOOK
            session.add(message)
            actor = Actor.system(f"job:{running.id}")
            record_attempt(
                session, case=case, message=message, actor=actor, details=details, **delivery
            )
            return
        error = None if sent else result.removeprefix("not sent: ")
        _settle(
            session,
            case=case,
            message=message,
            running=running,
            error=error,
            details=details,
            **delivery,
        )

    letter = compose(session, case=case, message=message, appeal=appeal)
    subject = session.get(Subject, case.subject_id)
    deliver(
        current_app.config,
        body=lambda: notice_body(
            case=case, subject=subject, message=message, letter=letter, delivery=running.id
        ),
        delivery=running.id,
        record=record,
    )


# --- what the case page shows --------------------------------------------------------------------


def case_messages(session: Session, *, case: Case) -> list[MessageLine]:
    """Every message of the case, oldest first, each marked when its notice reached nobody."""
    messages = list(
        session.exec(select(Message).where(Message.case_id == case.id).order_by(Message.id))
    )
    notices: dict[tuple, list[Message]] = {}
    for message in messages:
        notices.setdefault(_notice_of(message), []).append(message)
    lost = {
        key
        for key, group in notices.items()
        if all(message.status in UNDELIVERED for message in group)
    }
    return [MessageLine(message, _notice_of(message) in lost) for message in messages]


def undelivered_messages(session: Session, *, case: Case) -> list[Message]:
    """The messages of notices that no channel delivered: nowhere to send them, or failed for
    good on every channel tried."""
    return [line.message for line in case_messages(session, case=case) if line.undelivered]


def _notice_of(message: Message) -> tuple:
    # One notice: one job's message to one person, through however many channels.
    return (message.outbox_id, message.recipient_role, message.report_id)
