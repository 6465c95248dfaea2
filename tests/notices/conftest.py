"""Fixtures of the notices: cases opened from public reports and decided through the real
services, mail to a real local SMTP server, and a real HTTP receiver for the `notice` webhook."""

import json

import pytest
from sqlmodel import select

from cases.decisions.service import decide_case
from cases.enums import EventType
from cases.intake.public_reports import PublicReport, submit_public_report
from cases.lifecycle.actors import Actor
from cases.models import Case, Message, Subject
from cases.trail.models import EventPayload
from tests.casework import DECISION_FIELDS
from tests.decisions.test_webhooks import SECRET, Receiver
from tests.helpers import events, fresh

AFFECTED = "user-9001@example.net"
REPORTER = "ada@example.org"
FACTS = "On 3 May the account sent repeated threats of violence to another user."
GROUND = "Usage policies, Protect people: threats and harassment."
REDRESS = "Reply through the appeal form on your private page within six months."
BODY = {"name": "Appeals Centre Europe", "url": "https://www.appealscentre.eu/"}
# The decision every test makes unless it says otherwise: 30 days, two countries, detected by
# automated means and decided by a person.
DECISION = {
    **DECISION_FIELDS,
    "duration_days": 30,
    "territorial_scope": ["FR", "DE"],
    "statement_of_reasons": {
        "facts": FACTS,
        "automated_detection": True,
        "automated_decision": False,
        "ground": GROUND,
        "redress": REDRESS,
    },
}


@pytest.fixture
def config_overrides(mail_config) -> dict:
    return {**mail_config, "DISPUTE_SETTLEMENT_BODIES": [BODY]}


def public_report(**changes) -> PublicReport:
    fields = {
        "category": "protect.threats",
        "explanation": "Threats in direct messages.",
        "account_id": "acct-9001",
        "reporter_name": "Ada",
        "reporter_email": REPORTER,
        "good_faith": True,
    }
    return PublicReport(**{**fields, **changes})


@pytest.fixture
def reported(session):
    """A report from the public opening (or joining) a case about acct-9001, whose contact
    address the operator gave as `contact`; committed, so the receipt has gone."""

    def report(*, contact: str | None = AFFECTED, **changes) -> Case:
        case = submit_public_report(session, report=public_report(**changes)).case
        session.get(Subject, case.subject_id).contact_email = contact
        session.commit()
        return case

    return report


@pytest.fixture
def worker(staff):
    return Actor.staff(staff("admin", "worker"))


@pytest.fixture
def decided(session, walk, worker):
    """Decide a case in `new` as staff would (DECISION, changed by `changes`); the jobs the
    decision queues run right after its commit."""

    def decide(case: Case, **changes) -> Case:
        walk(case, "enforcement")
        fields = {**DECISION, **changes}
        decide_case(session, case=case, transition="decide", actor=worker, fields=fields)
        session.commit()
        return case

    return decide


@pytest.fixture
def receiver(app):
    """The operator's webhook endpoint, answering 204 unless told otherwise."""
    server = Receiver()
    app.config.update(WEBHOOK_URL=server.url, WEBHOOK_SECRET=SECRET)
    yield server
    server.stop()


def notices_received(receiver: Receiver) -> list[tuple[dict, dict]]:
    """The `notice` events the receiver got, as (headers, body)."""
    bodies = [(headers, json.loads(body)) for headers, body in receiver.received]
    return [(headers, body) for headers, body in bodies if body["event"] == "notice"]


def messages(session, case: Case) -> list[Message]:
    fresh(session)
    return list(
        session.exec(select(Message).where(Message.case_id == case.id).order_by(Message.id))
    )


def sent_events(session, case: Case, **matching) -> list[dict]:
    """The case's `notification_sent` payloads, oldest first, those with `matching` values."""
    payloads = [
        json.loads(session.get(EventPayload, event.id).payload)
        for event in events(session, case, EventType.notification_sent)
    ]
    return [p for p in payloads if all(p.get(k) == v for k, v in matching.items())]
