"""Notices to affected users per NOTICE_DELIVERY: by email to the known contact, and as a signed
`notice` webhook event to the operator (against a real local HTTP receiver: body, signature,
retries and one event per attempt); a notice no channel delivered is shown on the case page."""

import hashlib
import json

import pytest
from flask import render_template
from sqlmodel import select

from cases.decisions.webhooks import sign
from cases.enums import MessageChannel, MessageStatus, OutboxStatus
from cases.jobs.outbox import enqueue_job
from cases.jobs.registry import run_outbox_job
from cases.models import Decision, Outbox
from cases.notices.service import case_messages, undelivered_messages
from tests.decisions.test_webhooks import SECRET
from tests.helpers import fresh, reloaded
from tests.mailbox import link_in
from tests.notices.conftest import AFFECTED, FACTS, messages, notices_received, sent_events


def affected(session, case) -> list:
    return [m for m in messages(session, case) if m.recipient_role == "affected_user"]


def webhook_job(session, case) -> Outbox:
    fresh(session)
    return session.exec(
        select(Outbox)
        .where(Outbox.case_id == case.id, Outbox.job == "send_notice_webhook")
        .order_by(Outbox.id.desc())
    ).first()


def test_the_notice_webhook_is_signed_and_carries_the_text_and_the_private_link(
    session, inbox, receiver, reported, decided
):
    case = decided(reported())
    ((headers, body),) = notices_received(receiver)
    raw = next(raw for _, raw in receiver.received if json.loads(raw)["event"] == "notice")
    delivery = webhook_job(session, case)
    assert headers["X-Docket-Signature"] == sign(raw, SECRET)
    assert headers["X-Docket-Delivery"] == str(delivery.id)
    assert headers["Content-Type"] == "application/json"

    (mail,) = [m for m in inbox.messages if m["To"] == AFFECTED]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert body == {
        "event": "notice",
        "case": case.reference,
        "subject": {"kind": "account", "id": "acct-9001"},
        "notice": {
            "kind": "decision_notice",
            "text": text.replace("\r\n", "\n").rstrip("\n"),
            "link": link_in(text),
        },
        "idempotency_key": f"outbox-{delivery.id}",
    }
    assert FACTS in body["notice"]["text"]

    email, webhook = affected(session, case)
    assert (email.channel, email.status) == (MessageChannel.email, MessageStatus.sent)
    assert (webhook.channel, webhook.status) == (MessageChannel.webhook, MessageStatus.sent)
    assert webhook.recipient == receiver.url and webhook.link_id == email.link_id
    (attempt,) = sent_events(session, case, channel="webhook")
    assert attempt["sent"] is True and attempt["status"] == 204 and attempt["attempt"] == 1
    assert attempt["delivery"] == delivery.id and attempt["outbox_id"] == email.outbox_id
    assert attempt["body_sha256"] == hashlib.sha256(raw).hexdigest()
    assert attempt["url"] == receiver.url


def test_a_failing_receiver_is_retried_with_the_same_delivery(session, receiver, reported, decided):
    case = decided(reported(contact=None))
    receiver.received.clear()
    receiver.statuses = [500, 503]
    # The same notice again (say a lead re-sent it): its webhook now meets a failing receiver.
    enqueue_job(
        session,
        job="notify_affected_user",
        args={"case_id": case.id, "event_id": None, "transition": "decide"},
        case_id=case.id,
    )
    session.commit()
    delivery = webhook_job(session, case)
    assert (delivery.status, delivery.attempts, delivery.max_attempts) == (
        OutboxStatus.pending,
        1,
        8,
    )
    assert delivery.queue == "webhooks"
    run_outbox_job(delivery.id)
    run_outbox_job(delivery.id)
    assert reloaded(session, delivery).status == OutboxStatus.done
    run_outbox_job(delivery.id)  # finished: nothing is sent again

    assert len(receiver.received) == 3
    assert len({body for _, body in receiver.received}) == 1
    assert {h["X-Docket-Delivery"] for h, _ in receiver.received} == {str(delivery.id)}
    attempts = sent_events(session, case, channel="webhook", delivery=delivery.id)
    assert [(a["attempt"], a["sent"], a["status"]) for a in attempts] == [
        (1, False, 500),
        (2, False, 503),
        (3, True, 204),
    ]
    assert attempts[0]["reason"] == "not sent: HTTP 500"
    assert affected(session, case)[-1].status == MessageStatus.sent


def test_a_webhook_failing_for_good_leaves_the_notice_undelivered(
    app, session, receiver, reported, decided
):
    app.config["NOTICE_DELIVERY"] = "webhook"
    receiver.statuses = [500] * 20
    case = decided(reported())
    delivery = webhook_job(session, case)
    while reloaded(session, delivery).status == OutboxStatus.pending:
        run_outbox_job(delivery.id)
    assert delivery.attempts == 8
    (row,) = undelivered_messages(fresh(session), case=case)
    assert (row.channel, row.status, row.reason) == ("webhook", MessageStatus.failed, "HTTP 500")
    assert session.exec(select(Decision)).one().informed_at is None


def test_one_channel_delivering_is_enough(app, session, inbox, receiver, reported, decided):
    receiver.statuses = [204] + [500] * 20  # the enforcement webhook first, then the notice
    case = decided(reported())
    delivery = webhook_job(session, case)
    while reloaded(session, delivery).status == OutboxStatus.pending:
        run_outbox_job(delivery.id)
    email, webhook = affected(session, case)
    assert (email.status, webhook.status) == (MessageStatus.sent, MessageStatus.failed)
    assert undelivered_messages(session, case=case) == []
    assert session.exec(select(Decision)).one().informed_at == email.sent_at


CONTACT, NO_CONTACT = AFFECTED, None


@pytest.mark.parametrize(
    ("delivery", "contact", "webhook", "expected"),
    [
        ("both", CONTACT, True, [("email", "sent", None), ("webhook", "sent", None)]),
        ("email", CONTACT, True, [("email", "sent", None)]),
        ("webhook", CONTACT, True, [("webhook", "sent", None)]),
        ("both", NO_CONTACT, True, [("webhook", "sent", None)]),
        ("both", CONTACT, False, [("email", "sent", None)]),
        (
            "both",
            NO_CONTACT,
            False,
            [
                ("email", "not_sent", "no contact known for the affected user"),
                ("webhook", "not_sent", "no webhook configured (WEBHOOK_URL)"),
            ],
        ),
        (
            "email",
            NO_CONTACT,
            True,
            [("email", "not_sent", "no contact known for the affected user")],
        ),
        (
            "webhook",
            CONTACT,
            False,
            [("webhook", "not_sent", "no webhook configured (WEBHOOK_URL)")],
        ),
    ],
)
def test_notice_delivery_chooses_the_channels(
    app, session, inbox, receiver, reported, decided, delivery, contact, webhook, expected
):
    app.config["NOTICE_DELIVERY"] = delivery
    if not webhook:
        app.config["WEBHOOK_URL"] = None
    case = decided(reported(contact=contact))
    rows = affected(session, case)
    assert [(m.channel, m.status, m.reason) for m in rows] == expected
    emailed = any(channel == "email" and status == "sent" for channel, status, _ in expected)
    assert bool([m for m in inbox.messages if m["To"] == AFFECTED]) == emailed
    hooked = any(channel == "webhook" and status == "sent" for channel, status, _ in expected)
    assert bool(notices_received(receiver)) == hooked
    delivered = emailed or hooked
    assert (undelivered_messages(session, case=case) == []) == delivered
    assert (session.exec(select(Decision)).one().informed_at is not None) == delivered


def test_the_case_page_partial_shows_what_was_not_delivered_and_why(
    app, session, reported, decided
):
    app.config["WEBHOOK_URL"] = None
    case = decided(reported(contact=None))
    page = render_template(
        "notices/_case_messages.html", notice_messages=case_messages(session, case=case)
    )
    assert "Not delivered" in page
    assert "decision notice to the affected user by email: not sent, no contact known" in page
    assert (
        "decision notice to the affected user by webhook: not sent, no webhook configured" in page
    )
    assert "outcome" in page and "ada@example.org" in page  # the reporter's, delivered
    assert page.count('class="badge fail"') == 2


def test_with_nothing_to_send_the_partial_says_so(session, open_case):
    case = open_case()
    page = render_template(
        "notices/_case_messages.html", notice_messages=case_messages(session, case=case)
    )
    assert "No messages yet." in page and "Not delivered" not in page
