"""The enforcement webhook against a real HTTP receiver on a free local port: the signature over
the exact body, the delivery id kept across retries, backoff, and an `enforcement_sent` event
for every attempt with its result."""

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

from cases.core.db import session_scope
from cases.core.sqltypes import utcnow
from cases.decisions.service import decide_case
from cases.decisions.webhooks import NOT_CONFIGURED, sign
from cases.enums import EventType, OutboxStatus
from cases.jobs.outbox import relay_outbox
from cases.jobs.registry import retry_delay, run_outbox_job
from cases.lifecycle.actors import Actor
from cases.models import Decision, Outbox
from cases.trail.models import EventPayload
from tests.casework import APPEAL, DECISION_FIELDS
from tests.helpers import events, reloaded

SECRET = "whsec-test-0123456789"


class Receiver:
    """An HTTP server in a thread that records each POST and answers the next planned status."""

    def __init__(self):
        self.statuses: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/docket"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver(app):
    server = Receiver()
    # Notices go by email here: the enforcement event is the only one these tests receive
    # (tests/notices/test_delivery.py has the `notice` event).
    app.config.update(
        WEBHOOK_URL=server.url + "?token=private", WEBHOOK_SECRET=SECRET, NOTICE_DELIVERY="email"
    )
    yield server
    server.stop()


@pytest.fixture
def decide(session, open_case, walk, staff):
    """Decide a case (committed, so the webhook job runs in-process right after the commit)."""

    def decided(**changes):
        case = walk(open_case(), "enforcement")
        worker = Actor.staff(staff("admin", "worker"))
        fields = {**DECISION_FIELDS, **changes}
        decide_case(session, case=case, transition="decide", actor=worker, fields=fields)
        session.commit()
        return case

    return decided


def deliveries(session, case) -> list[dict]:
    return [
        json.loads(session.get(EventPayload, e.id).payload)
        for e in events(session, case, EventType.enforcement_sent)
    ]


def webhook_row(session) -> Outbox:
    session.rollback()
    return session.exec(select(Outbox).where(Outbox.job == "send_enforcement_webhook")).one()


def test_the_body_is_signed_with_hmac_sha256_and_the_attempt_recorded(session, receiver, decide):
    case = decide(territorial_scope=["FR", "DE"])
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Docket-Signature"], f"sha256={expected}")
    assert headers["X-Docket-Signature"] == sign(body, SECRET)
    assert headers["Content-Type"] == "application/json"
    outbox = webhook_row(session)
    assert headers["X-Docket-Delivery"] == str(outbox.id)

    decision = session.exec(select(Decision)).one()
    assert json.loads(body) == {
        "event": "enforcement",
        "case": case.reference,
        "subject": {"kind": "account", "id": "acct-1"},
        "decision": {
            "restriction": "temporary_suspension",
            "duration_days": 7,
            "territorial_scope": ["DE", "FR"],
            "policy_clause": "protect.threats",
            "decided_at": decision.decided_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
        "idempotency_key": f"outbox-{outbox.id}",
    }
    assert outbox.status == OutboxStatus.done and outbox.attempts == 0
    (delivery,) = deliveries(session, case)
    assert delivery["sent"] is True and delivery["status"] == 204
    assert delivery["attempt"] == 1 and delivery["delivery"] == outbox.id
    assert delivery["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert delivery["url"] == receiver.url  # the query string (a credential, maybe) is not kept


def test_a_receiver_failing_twice_gets_retried_with_backoff(session, receiver, decide):
    receiver.statuses = [500, 503, 200]
    case = decide()
    outbox = webhook_row(session)
    assert (outbox.status, outbox.attempts) == (OutboxStatus.pending, 1)
    assert outbox.available_at > utcnow() + retry_delay(1) - timedelta(seconds=5)
    # Backoff: the relay leaves it alone until it is due.
    with session_scope() as relay:
        assert relay_outbox(relay, now=utcnow()) == 0
        relay.rollback()

    run_outbox_job(outbox.id)  # as the relay would once available_at has passed
    outbox = reloaded(session, outbox)
    assert (outbox.status, outbox.attempts) == (OutboxStatus.pending, 2)
    assert "HTTP 503" in outbox.last_error
    run_outbox_job(outbox.id)
    assert reloaded(session, outbox).status == OutboxStatus.done

    assert len(receiver.received) == 3
    assert len({body for _, body in receiver.received}) == 1  # the same delivery each time
    assert {h["X-Docket-Delivery"] for h, _ in receiver.received} == {str(outbox.id)}
    recorded = deliveries(session, case)
    assert [(d["attempt"], d["sent"], d["status"]) for d in recorded] == [
        (1, False, 500),
        (2, False, 503),
        (3, True, 200),
    ]
    assert [d["result"] for d in recorded] == ["HTTP 500", "HTTP 503", "HTTP 200"]


def test_redirects_are_not_followed(session, receiver, decide):
    receiver.statuses = [302]
    case = decide()
    assert len(receiver.received) == 1
    assert deliveries(session, case)[0]["result"] == "HTTP 302"
    assert webhook_row(session).status == OutboxStatus.pending


def test_network_errors_and_timeouts_are_recorded_and_retried(app, session, receiver, decide):
    app.config.update(WEBHOOK_TIMEOUT=0.2)
    receiver.delay = 1.0
    case = decide()
    (delivery,) = deliveries(session, case)
    assert delivery["sent"] is False and delivery["status"] is None
    assert delivery["result"].startswith("network error") and "timed out" in delivery["result"]
    receiver.delay = 0
    receiver.stop()  # nothing listens on the port any more
    run_outbox_job(webhook_row(session).id)
    assert "network error" in deliveries(session, case)[1]["result"]
    assert webhook_row(session).attempts == 2


def test_without_a_webhook_url_nothing_is_sent_and_the_job_succeeds(app, session, decide):
    app.config.update(WEBHOOK_URL=None)
    case = decide()
    (delivery,) = deliveries(session, case)
    assert delivery["sent"] is False and delivery["result"] == NOT_CONFIGURED
    assert webhook_row(session).status == OutboxStatus.done


def test_a_url_without_a_secret_is_never_sent_unsigned(app, session, receiver, decide):
    app.config.update(WEBHOOK_SECRET=None)
    case = decide()
    assert receiver.received == []
    assert deliveries(session, case)[0]["result"] == "not sent: WEBHOOK_SECRET is not set"
    assert webhook_row(session).status == OutboxStatus.pending


def test_each_delivery_carries_its_own_decision(
    session, receiver, open_case, walk, staff, hand_over
):
    case = walk(open_case(), "appeal_review")
    user = staff("lead", "reviewer")
    hand_over(case, user)
    reviewer = Actor.staff(user)
    decide_case(session, case=case, transition="reverse", actor=reviewer, fields=APPEAL)
    session.commit()
    first, reversal = (json.loads(body)["decision"] for _, body in receiver.received)
    assert first["restriction"] == "temporary_suspension" and first["duration_days"] == 7
    assert reversal["restriction"] == "no_action" and reversal["duration_days"] is None
    assert reversal["policy_clause"] == first["policy_clause"]
    # Re-running the first delivery's job would still send the first decision, not the latest.
    rows = session.exec(select(Outbox).where(Outbox.job == "send_enforcement_webhook")).all()
    assert [r.args["event_id"] for r in rows] == [
        d.transition_event_id for d in session.exec(select(Decision).order_by(Decision.id))
    ]
