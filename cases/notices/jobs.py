"""Notification jobs: every notice to a reporter or an affected user, per channel, recorded on the
case (see `cases.notices.service`).

`notify_reporter` is enqueued by intake (args: case_id, report_id, kind="acknowledgement"), by
workflow transitions (case_id, event_id, transition) and by the appeals service (case_id,
kind="appeal_received", appeal_id, report_id); `notify_affected_user` by transitions and by the
appeals service (case_id, kind="appeal_received", appeal_id). Each plans its messages on its first
run and sends the email ones; a webhook message is delivered by its own `send_notice_webhook` job,
on the webhooks queue with the enforcement webhook's retries. A job that dies after sending and
before its commit sends again, under the same Message-ID (derived from the outbox id).
"""

from sqlmodel import Session

from cases.jobs.registry import job
from cases.models import Case, Message, Outbox
from cases.notices.service import (
    affected_user_addressee,
    deliver_emails,
    deliver_notice_webhook,
    plan_messages,
    planned_messages,
    reporter_addressees,
    the_appeal,
    transition_question,
)


@job("notify_reporter", queue="notify", max_attempts=8)
def notify_reporter(
    session: Session,
    outbox: Outbox,
    *,
    case_id: int,
    report_id: int | None = None,
    kind: str | None = None,
    event_id: int | None = None,
    transition: str | None = None,
    appeal_id: int | None = None,
) -> None:
    """Send a reporter their receipt, a question, the outcome in general terms, or their appeal's
    confirmation or outcome."""
    case = session.get(Case, case_id)
    appeal = the_appeal(session, case=case, appeal_id=appeal_id)
    messages = planned_messages(session, outbox=outbox) or plan_messages(
        session,
        outbox=outbox,
        case=case,
        addressees=reporter_addressees(
            session,
            case=case,
            report_id=report_id,
            kind=kind,
            transition=transition,
            appeal=appeal,
        ),
        webhook_args={},
        details={},
    )
    deliver_emails(
        session,
        running=outbox,
        case=case,
        messages=messages,
        appeal=appeal,
        question=transition_question(session, event_id=event_id),
        details={},
    )


@job("notify_affected_user", queue="notify", max_attempts=8)
def notify_affected_user(
    session: Session,
    outbox: Outbox,
    *,
    case_id: int,
    event_id: int | None = None,
    transition: str | None = None,
    kind: str | None = None,
    appeal_id: int | None = None,
) -> None:
    """Send the affected user a decision's statement of reasons and how to seek redress, an
    appeal's outcome, or the confirmation of their appeal."""
    case = session.get(Case, case_id)
    appeal = the_appeal(session, case=case, appeal_id=appeal_id)
    details = {"transition": transition} if transition else {}
    messages = planned_messages(session, outbox=outbox)
    if not messages:
        addressee = affected_user_addressee(
            session, case=case, kind=kind, event_id=event_id, transition=transition, appeal=appeal
        )
        messages = plan_messages(
            session,
            outbox=outbox,
            case=case,
            addressees=[addressee] if addressee else [],
            webhook_args={"appeal_id": appeal.id if appeal else None, **details},
            details=details,
        )
    deliver_emails(
        session, running=outbox, case=case, messages=messages, appeal=appeal, details=details
    )


@job("send_notice_webhook", queue="webhooks", max_attempts=8)
def send_notice_webhook(
    session: Session,
    outbox: Outbox,
    *,
    case_id: int,
    message_id: int,
    appeal_id: int | None = None,
    transition: str | None = None,
) -> None:
    """Deliver a notice to the operator's platform as a signed `notice` event."""
    case = session.get(Case, case_id)
    deliver_notice_webhook(
        session,
        running=outbox,
        case=case,
        message=session.get(Message, message_id),
        appeal=the_appeal(session, case=case, appeal_id=appeal_id),
        details={"transition": transition} if transition else {},
    )
