"""A real SMTP server (aiosmtpd) on a free local port, and the settings that send the app's mail to
it. Loaded as a plugin by tests/conftest.py; a test folder opts in with
`config_overrides(mail_config)`."""

import re
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

PUBLIC_BASE_URL = "http://docket.test"


class Inbox:
    """An aiosmtpd handler keeping every message it accepts; it refuses the addresses in
    `refused` as a server refuses a mailbox that does not exist."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.refused: set[str] = set()
        self.port = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

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
def mail_config(inbox) -> dict:
    """Settings that send the app's mail to `inbox`, with links on PUBLIC_BASE_URL."""
    return {"PUBLIC_BASE_URL": PUBLIC_BASE_URL, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": inbox.port}


LINK = re.compile(r"http://docket\.test/my/[A-Za-z0-9_.\-]+")


def link_in(text: str) -> str:
    match = LINK.search(text)
    assert match, f"no status link in {text!r}"
    return match.group(0)
