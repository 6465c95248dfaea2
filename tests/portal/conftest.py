"""Fixtures for the public portal: a real SMTP server (aiosmtpd) on a free local port, the app
configured to send through it, and helpers to fill in the report form as a browser would."""

import io
import json
import re
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, select

from cases.models import Case, Report
from cases.trail.models import CaseEvent, EventPayload
from tests.helpers import csrf_token

PUBLIC_BASE_URL = "http://docket.test"


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def inbox():
    handler = Inbox()
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture
def config_overrides(inbox) -> dict:
    return {"PUBLIC_BASE_URL": PUBLIC_BASE_URL, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": inbox.port}


def notice_form(**changes) -> dict:
    """A complete, valid report; `changes` replace fields (None leaves a field out)."""
    form = {
        "category": "protect.threats",
        "url": "https://social.example/posts/991",
        "content_id": "",
        "account_id": "acct-4471",
        "explanation": "This account posted a message threatening to hurt my sister.",
        "reporter_name": "Ada Reporter",
        "reporter_email": "ada@example.org",
        "good_faith": "y",
    }
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


def post_report(client, *, files: list[tuple[bytes, str, str]] = (), csrf: bool = True, **changes):
    """POST the form (multipart, as a browser sends it) with attachments (bytes, name, type)."""
    data = notice_form(**changes)
    if csrf:
        data["csrf_token"] = csrf_token(client, "/report")
    data["attachments"] = [
        (io.BytesIO(content), filename, content_type) for content, filename, content_type in files
    ]
    return client.post("/report", data=data, content_type="multipart/form-data")


def fresh(session: Session) -> Session:
    """The session, reading what has committed since (a read transaction keeps its snapshot)."""
    session.rollback()
    session.expire_all()  # rollback expires nothing when no transaction had begun
    return session


def written(session: Session) -> tuple[int, int, int]:
    """How many reports, cases and events exist."""
    fresh(session)
    return tuple(len(session.exec(select(model)).all()) for model in (Report, Case, CaseEvent))


def events(session: Session, case_id: int, type: str) -> list[tuple[dict, dict]]:
    """The case's events of `type` as (header, payload), oldest first."""
    rows = session.exec(
        select(CaseEvent, EventPayload)
        .join(EventPayload, EventPayload.event_id == CaseEvent.id)
        .where(CaseEvent.case_id == case_id, CaseEvent.type == type)
        .order_by(CaseEvent.seq)
    ).all()
    return [(json.loads(event.header), json.loads(payload.payload)) for event, payload in rows]


LINK = re.compile(r"http://docket\.test/my/[A-Za-z0-9_.\-]+")


def link_in(text: str) -> str:
    match = LINK.search(text)
    assert match, f"no status link in {text!r}"
    return match.group(0)
