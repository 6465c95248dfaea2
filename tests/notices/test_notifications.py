"""Notices by email over real SMTP (aiosmtpd): multipart text and HTML, one `Message` and one
`notification_sent` event per attempt, retried after a failure without sending twice, idempotent
per outbox row, and what reporters are told (a receipt, the question, the outcome in general
terms only)."""

import pytest
from sqlmodel import select

from cases.core.db import session_scope
from cases.decisions.service import decide_case
from cases.enums import MessageChannel, MessageStatus, OutboxStatus, Restriction, Role
from cases.jobs.registry import run_outbox_job
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import transition_case
from cases.models import Decision, Outbox
from cases.notices.jobs import notify_affected_user
from cases.notices.service import undelivered_messages
from cases.notices.wording import RESTRICTION_WORDS
from cases.portal.links import read_link
from cases.review.claims import claim_case
from tests.factories import make_user
from tests.helpers import fresh, reloaded
from tests.mailbox import link_in
from tests.notices.conftest import (
    AFFECTED,
    DECISION,
    FACTS,
    REPORTER,
    messages,
    sent_events,
)


@pytest.fixture
def config_overrides(mail_config) -> dict:
    # Email only: these tests are about SMTP (tests/notices/test_delivery.py has the webhook).
    return {**mail_config, "NOTICE_DELIVERY": "email"}


def parts(message) -> tuple[str, str]:
    """The text and HTML parts of a received message."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def to(inbox, address: str) -> list:
    return [m for m in inbox.messages if m["To"] == address]


def notice_job(session, case) -> Outbox:
    return session.exec(
        select(Outbox).where(Outbox.case_id == case.id, Outbox.job == "notify_affected_user")
    ).one()


def test_the_affected_user_gets_the_decision_as_text_and_html(
    client, session, inbox, reported, decided
):
    case = decided(reported())
    (message,) = to(inbox, AFFECTED)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Subject"] == f"A decision about your account ({case.reference})"
    outbox = notice_job(fresh(session), case)
    assert message["Message-ID"] == f"<docket.{outbox.id}@docket.example>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Docket-Case"] == case.reference
    text, html = parts(message)
    assert FACTS in text and FACTS in html
    link = link_in(text)
    assert f'<a href="{link}">' in html
    private = read_link(session, link.rsplit("/", 1)[1])  # the affected user's own link
    assert (private.case_id, private.holder, private.report_id) == (case.id, "affected_user", None)

    assert outbox.status == OutboxStatus.done
    (row,) = [m for m in messages(session, case) if m.recipient_role == "affected_user"]
    assert (row.kind, row.channel, row.status, row.attempts) == (
        "decision_notice",
        MessageChannel.email,
        MessageStatus.sent,
        1,
    )
    assert row.recipient == AFFECTED and row.message_id == message["Message-ID"]
    (sent,) = sent_events(session, case, recipient_role="affected_user")
    assert sent == {
        "outbox_id": outbox.id,
        "kind": "decision_notice",
        "recipient_role": "affected_user",
        "recipient": AFFECTED,
        "sent": True,
        "reason": None,
        "message_id": message["Message-ID"],
        "channel": "email",
        "attempt": 1,
        "transition": "decide",
    }

    # A second run of the finished job (a worker that died before acknowledging) does nothing.
    with session_scope() as again:
        notify_affected_user(again, again.get(Outbox, outbox.id), **outbox.args)
        again.commit()
    assert len(to(inbox, AFFECTED)) == 1
    assert len(sent_events(session, case, recipient_role="affected_user")) == 1


def test_the_first_delivery_starts_the_appeal_window(session, inbox, reported, decided):
    case = decided(reported())
    (row,) = [m for m in messages(session, case) if m.recipient_role == "affected_user"]
    decision = session.exec(select(Decision)).one()
    assert decision.informed_at == row.sent_at
    assert decision.informed_at > decision.decided_at


def test_a_notice_nobody_can_receive_leaves_the_window_to_run_from_the_decision(
    session, inbox, reported, decided
):
    case = decided(reported(contact=None))
    assert to(inbox, AFFECTED) == []
    (row,) = [m for m in messages(session, case) if m.recipient_role == "affected_user"]
    assert (row.status, row.reason, row.recipient) == (
        MessageStatus.not_sent,
        "no contact known for the affected user",
        None,
    )
    assert undelivered_messages(session, case=case) == [row]
    assert session.exec(select(Decision)).one().informed_at is None
    (skipped,) = sent_events(session, case, recipient_role="affected_user")
    assert (skipped["sent"], skipped["reason"], skipped["attempt"]) == (
        False,
        "not sent: no contact known for the affected user",
        0,
    )


def test_after_the_smtp_server_was_down_the_retry_sends_once(
    app, session, inbox, reported, decided
):
    app.config["MAIL_PORT"] = 1  # nothing listens there: connection refused
    case = decided(reported())
    outbox = notice_job(fresh(session), case)
    assert (outbox.status, outbox.attempts) == (OutboxStatus.pending, 1)
    assert "ConnectionRefusedError" in outbox.last_error
    (failed,) = sent_events(session, case, recipient_role="affected_user")
    assert (failed["sent"], failed["attempt"], failed["channel"]) == (False, 1, "email")
    assert failed["reason"].startswith("not sent: ConnectionRefusedError")
    (row,) = [m for m in messages(session, case) if m.recipient_role == "affected_user"]
    assert (row.status, row.attempts) == (MessageStatus.pending, 1)
    assert undelivered_messages(session, case=case) == []  # still being tried

    app.config["MAIL_PORT"] = inbox.port
    run_outbox_job(outbox.id)  # as the relay does once the backoff has passed
    assert reloaded(session, outbox).status == OutboxStatus.done
    (message,) = to(inbox, AFFECTED)
    retried = sent_events(session, case, recipient_role="affected_user")
    assert [(e["attempt"], e["sent"]) for e in retried] == [(1, False), (2, True)]
    assert retried[1]["message_id"] == message["Message-ID"]
    assert session.exec(select(Decision)).one().informed_at is not None

    run_outbox_job(outbox.id)  # done: nothing more
    assert len(to(inbox, AFFECTED)) == 1


def test_an_email_failing_on_every_attempt_is_shown_undelivered(
    app, session, inbox, reported, decided
):
    app.config["MAIL_PORT"] = 1
    case = decided(reported())
    outbox = notice_job(fresh(session), case)
    while reloaded(session, outbox).status == OutboxStatus.pending:
        run_outbox_job(outbox.id)
    assert (outbox.status, outbox.attempts) == (OutboxStatus.failed, 8)
    (row,) = undelivered_messages(fresh(session), case=case)
    assert (row.status, row.attempts) == (MessageStatus.failed, 8)
    assert row.reason.startswith("ConnectionRefusedError")
    assert len(sent_events(session, case, recipient_role="affected_user")) == 8


def test_an_address_the_server_refuses_is_not_tried_again(session, inbox, reported, decided):
    inbox.refused.add(AFFECTED)
    case = decided(reported())
    assert notice_job(fresh(session), case).status == OutboxStatus.done
    (row,) = undelivered_messages(session, case=case)
    assert row.status == MessageStatus.failed and row.attempts == 1
    assert "the address was refused" in row.reason


def test_the_reporter_gets_a_receipt(session, inbox, reported):
    case = reported()
    (message,) = inbox.messages
    assert message["To"] == REPORTER and message["Subject"] == f"Your report {case.reference}"
    text, html = parts(message)
    assert case.reference in text and case.reference in html
    assert f'<a href="{link_in(text)}">' in html
    (receipt,) = sent_events(session, case)
    assert receipt["kind"] == "receipt" and receipt["sent"] is True
    assert receipt["report_id"] is not None and receipt["channel"] == "email"


def test_the_reporter_is_told_the_outcome_in_general_terms_only(session, inbox, reported, decided):
    case = reported()
    reported(reporter_email="ADA@example.org")  # the same reporter again: told once
    inbox.messages.clear()
    decided(case)

    (outcome,) = to(inbox, REPORTER)
    assert outcome["Subject"] == f"The outcome of your report {case.reference}"
    for part in parts(outcome):
        assert "We took action under Threats, intimidation" in part
        for words in RESTRICTION_WORDS.values():
            assert words.lower() not in part.lower()
        for private in ("suspend", "30 days", FACTS, AFFECTED, "acct-9001", "Germany"):
            assert private not in part


def test_a_reporter_told_of_no_violation(session, inbox, reported, decided):
    case = reported()
    inbox.messages.clear()
    decided(case, restriction=Restriction.no_action, duration_days=None)
    (outcome,) = to(inbox, REPORTER)
    for part in parts(outcome):
        assert "We found no violation of our usage policies." in part
        assert "no breach of the policies was found" not in part  # the restriction's words


def test_the_question_is_sent_never_the_internal_note(session, inbox, reported):
    reviewer = make_user(session, role=Role.reviewer)
    case = reported()
    inbox.messages.clear()
    actor = Actor.staff(reviewer)
    question = "Which of the messages on 3 May do you mean?"
    note = "Internal: the reporter may be the account's ex-partner."
    transition_case(session, case=case, transition="start_triage", actor=actor)
    claim_case(session, case=case, actor=actor)
    transition_case(
        session,
        case=case,
        transition="request_information",
        actor=actor,
        fields={"question": question, "note": note},
    )
    session.commit()
    (message,) = inbox.messages
    assert message["Subject"] == f"A question about your report {case.reference}"
    for part in parts(message):
        assert question in part
        assert "ex-partner" not in part
    (asked,) = sent_events(session, case, kind="information_request")
    assert asked["sent"] is True and asked["recipient"] == REPORTER


def test_a_detection_has_no_reporter_to_tell(session, inbox, open_case, walk, worker):
    case = walk(open_case(), "enforcement")
    decide_case(session, case=case, transition="decide", actor=worker, fields=DECISION)
    session.commit()
    reporter_job = session.exec(
        select(Outbox).where(Outbox.case_id == case.id, Outbox.job == "notify_reporter")
    ).one()
    assert reporter_job.status == OutboxStatus.done
    assert inbox.messages == []  # and the subject has no contact address
    assert [m.recipient_role for m in messages(session, case)] == ["affected_user"]
