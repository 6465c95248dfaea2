"""Notification jobs: email over real SMTP (aiosmtpd), each message sent or skipped recorded on the
case, idempotent per outbox row, and driven by the workflow's transitions."""

import pytest
from sqlmodel import select

from cases.core.db import session_scope
from cases.decisions.service import decide_case
from cases.enums import OutboxStatus, Role
from cases.intake.public_reports import PublicReport, submit_public_report
from cases.jobs.outbox import enqueue_job
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import transition_case
from cases.models import Case, Outbox, Subject
from cases.notices.jobs import notify_affected_user
from cases.review.claims import claim_case
from tests.factories import make_user
from tests.helpers import event_payloads, fresh, post_report
from tests.mailbox import link_in
from tests.portal.test_status_links import FACTS, decide

AFFECTED = "user-9001@example.net"


def open_case(session, *, email: str | None = None, name: str | None = None) -> Case:
    notice = PublicReport(
        category="protect.threats",
        explanation="Threats in direct messages.",
        account_id="acct-9001",
        reporter_name=name,
        reporter_email=email,
        good_faith=True,
    )
    return submit_public_report(session, report=notice).case


def with_contact(session, case: Case, email: str | None = AFFECTED) -> Case:
    session.get(Subject, case.subject_id).contact_email = email
    return case


def enqueue_notice(session, case: Case) -> Outbox:
    args = {"case_id": case.id, "event_id": None, "transition": "decide"}
    return enqueue_job(session, job="notify_affected_user", args=args, case_id=case.id)


def test_the_affected_user_is_sent_the_decision_notice(app, client, session, inbox):
    case = with_contact(session, open_case(session))
    decision = decide(session, case)
    outbox = enqueue_notice(session, case)
    session.commit()  # the job runs in-process after the commit (no REDIS_URL)

    (message,) = inbox.messages
    assert message["To"] == AFFECTED
    assert message["Subject"] == f"A decision about your account ({case.reference})"
    assert message["Message-ID"] == f"<docket.{outbox.id}@docket.example>"
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_content()
    for element in (
        "The account was suspended for a time, for 30 days.",
        FACTS,
        decision.ground,
        decision.redress,
        "the content was detected automatically",
        "the decision was taken by a person",
    ):
        assert element in body
    page = client.get(link_in(body))
    assert page.status_code == 200 and FACTS in page.get_data(as_text=True)

    fresh(session)
    assert session.get(Outbox, outbox.id).status == OutboxStatus.done
    ((_, sent),) = event_payloads(session, case.id, "notification_sent")
    assert sent == {
        "outbox_id": outbox.id,
        "kind": "decision_notice",
        "recipient_role": "affected_user",
        "recipient": AFFECTED,
        "sent": True,
        "reason": None,
        "message_id": message["Message-ID"],
        "transition": "decide",
    }

    # Run again (a worker that died before acknowledging): the trail shows it ran; nothing is sent.
    with session_scope() as again:
        notify_affected_user(again, again.get(Outbox, outbox.id), **outbox.args)
        again.commit()
    assert len(inbox.messages) == 1
    assert len(event_payloads(fresh(session), case.id, "notification_sent")) == 1


@pytest.mark.parametrize(
    ("contact", "decided", "reason"),
    [
        (None, True, "not sent: no contact known for the affected user"),
        (AFFECTED, False, "not sent: no decision yet"),
    ],
)
def test_without_a_contact_or_a_decision_the_skip_is_recorded(
    session, inbox, contact, decided, reason
):
    case = with_contact(session, open_case(session), contact)
    if decided:
        decide(session, case)
    outbox = enqueue_notice(session, case)
    session.commit()
    assert inbox.messages == []
    fresh(session)
    assert session.get(Outbox, outbox.id).status == OutboxStatus.done
    ((_, skipped),) = event_payloads(session, case.id, "notification_sent")
    assert (skipped["sent"], skipped["reason"], skipped["recipient"]) == (False, reason, contact)


def test_without_a_mail_server_jobs_record_that_nothing_was_sent(app, client, session, inbox):
    app.config["MAIL_SERVER"] = ""
    assert post_report(client).status_code == 302
    case = fresh(session).exec(select(Case)).one()
    ((_, skipped),) = event_payloads(session, case.id, "notification_sent")
    assert skipped["sent"] is False
    assert skipped["reason"] == "not sent: no mail server configured"
    assert skipped["recipient"] == "ada@example.org"
    page = client.get("/report/received").get_data(as_text=True)
    assert "We also send" not in page and "the only place the link is shown" in page
    assert session.exec(select(Outbox)).one().status == OutboxStatus.done
    assert inbox.messages == []


def test_an_smtp_failure_leaves_the_job_to_retry_with_nothing_recorded(app, session, inbox):
    app.config["MAIL_PORT"] = 1  # nothing listens there: connection refused
    case = with_contact(session, open_case(session))
    decide(session, case)
    outbox = enqueue_notice(session, case)
    session.commit()
    fresh(session)
    failed = session.get(Outbox, outbox.id)
    assert (failed.status, failed.attempts) == (OutboxStatus.pending, 1)
    assert "Connection refused" in failed.last_error or "ConnectionRefused" in failed.last_error
    assert event_payloads(session, case.id, "notification_sent") == []


def advance(session, case: Case, reviewer, *steps: tuple[str, dict]) -> None:
    actor = Actor.staff(reviewer)
    for transition, fields in steps:
        transition_case(session, case=case, transition=transition, actor=actor, fields=fields)
        session.commit()  # each transition's jobs run after its commit


def test_a_decision_notifies_the_reporters_and_the_affected_user(session, inbox):
    reviewer = make_user(session, role=Role.reviewer)
    case = open_case(session, email="ada@example.org", name="Ada")
    open_case(session, email="ADA@example.org", name="Ada")  # the same reporter again
    open_case(session)  # an anonymous one: nobody to tell
    with_contact(session, case)
    session.commit()
    assert [m["Subject"] for m in inbox.messages] == [f"Your report {case.reference}"] * 2
    inbox.messages.clear()

    case = session.get(Case, case.id)
    advance(session, case, reviewer, ("start_triage", {}))
    claim_case(session, case=case, actor=Actor.staff(reviewer))
    advance(session, case, reviewer, ("send_to_enforcement", {"policy_clause": "protect.threats"}))
    decide_case(
        session,
        case=case,
        transition="decide",
        actor=Actor.staff(reviewer),
        fields={
            "policy_clause": "protect.threats",
            "restriction": "temporary_suspension",
            "duration_days": 30,
            "territorial_scope": ["worldwide"],
            "statement_of_reasons": {
                "facts": FACTS,
                "automated_detection": True,
                "automated_decision": False,
                "ground": "Usage policies, Protect people: threats and harassment.",
                "redress": "Reply through the appeal form on this page within six months.",
            },
        },
    )
    session.commit()

    by_recipient = {m["To"]: m for m in inbox.messages}
    assert sorted(by_recipient) == ["ada@example.org", AFFECTED]  # one message per address
    outcome = by_recipient["ada@example.org"].get_content()
    assert "Status: action taken." in outcome
    assert "the account was suspended for a time" in outcome
    assert FACTS not in outcome  # the facts concern the affected user, not the reporter
    assert FACTS in by_recipient[AFFECTED].get_content()
    sent = [p for _, p in event_payloads(fresh(session), case.id, "notification_sent")]
    assert [(p["kind"], p["recipient_role"]) for p in sent[2:]] == [
        ("decision_notice", "affected_user"),
        ("outcome", "reporter"),
    ]


def test_asking_the_reporter_for_information_sends_the_question(session, inbox):
    reviewer = make_user(session, role=Role.reviewer)
    case = open_case(session, email="ada@example.org", name="Ada")
    session.commit()
    inbox.messages.clear()
    question = "Which of the messages on 3 May do you mean?"
    advance(
        session,
        case,
        reviewer,
        ("start_triage", {}),
        ("request_information", {"note": question}),
    )
    (message,) = inbox.messages
    assert message["To"] == "ada@example.org"
    assert question in message.get_content()
    ((_, asked),) = [
        e
        for e in event_payloads(fresh(session), case.id, "notification_sent")
        if e[1]["kind"] == "information_request"
    ]
    assert asked["sent"] is True
