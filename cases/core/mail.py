"""Outgoing email over SMTP (smtplib): the plain-text messages the notification jobs send.

With MAIL_SERVER empty (the default, so a laptop runs offline) nothing is sent; the jobs record
that instead. Messages carry a Message-ID the caller derives from the outbox row, so a job that
runs twice sends a message the receiving side can recognise as the same one.
"""

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

SMTP_TIMEOUT = 30  # seconds; well below JOB_TIMEOUT, so a hung server fails the job cleanly


class MailNotConfigured(RuntimeError):
    """No MAIL_SERVER is configured."""


def mail_enabled(config: Mapping[str, Any]) -> bool:
    return bool(config.get("MAIL_SERVER"))


def message_id(config: Mapping[str, Any], key: str) -> str:
    """A Message-ID under the sender's domain, stable for `key` (e.g. an outbox id)."""
    domain = parseaddr(config["MAIL_FROM"])[1].rpartition("@")[2] or "docket.invalid"
    return f"<docket.{key}@{domain}>"


def send_mail(
    *, to: str, subject: str, text: str, config: Mapping[str, Any], message_id: str | None = None
) -> None:
    """Send one plain-text message through the configured SMTP server; raises on failure."""
    if not mail_enabled(config):
        raise MailNotConfigured("no mail server configured (MAIL_SERVER)")
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    if message_id:
        message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    message.set_content(text)
    with smtplib.SMTP(
        config["MAIL_SERVER"], int(config["MAIL_PORT"]), timeout=SMTP_TIMEOUT
    ) as smtp:
        if config["MAIL_USE_TLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(message)
