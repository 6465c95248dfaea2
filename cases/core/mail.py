"""Outgoing email, each message with a text and an HTML part: sent over SMTP (smtplib) when
MAIL_SERVER is set, else written as an `.eml` file to the embedded outbox (MAIL_OUTBOX_DIR, by
default instance/mail/), which admins read at /admin/mail. A laptop thus runs offline and still
shows exactly what people would receive.

Messages carry a Message-ID the caller derives from the outbox row, so a job that runs twice sends
a message the receiving side can recognise as the same one, or rewrites the same outbox file.
"""

import os
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email import message_from_binary_file, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import formatdate, parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any

from flask import Flask

SMTP_TIMEOUT = 30  # seconds; well below JOB_TIMEOUT, so a hung server fails the job cleanly
CASE_HEADER = "X-Docket-Case"
# Outbox files are named by their message's key; a name from a URL must match this before it
# comes near the file system, so it cannot climb out of the folder.
OUTBOX_FILE = re.compile(r"docket\.[0-9][0-9.]{0,60}\.eml\Z")
OUTBOX_KEY = re.compile(r"[0-9][0-9.]{0,60}\Z")


def mail_enabled(config: Mapping[str, Any]) -> bool:
    """Whether messages go out over SMTP (else to the embedded outbox)."""
    return bool(config.get("MAIL_SERVER"))


def message_id(config: Mapping[str, Any], key: str) -> str:
    """A Message-ID under the sender's domain, stable for `key` (e.g. an outbox id)."""
    domain = parseaddr(config["MAIL_FROM"])[1].rpartition("@")[2] or "docket.invalid"
    return f"<docket.{key}@{domain}>"


def compose_mail(
    *,
    to: str,
    subject: str,
    text: str,
    html: str,
    config: Mapping[str, Any],
    message_id: str,
    case: str | None = None,
) -> EmailMessage:
    """A multipart/alternative message: the text part first, the HTML part preferred."""
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    if case:
        message[CASE_HEADER] = case
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send_mail(message: EmailMessage, *, config: Mapping[str, Any]) -> None:
    """Send through the configured SMTP server; raises smtplib.SMTPException or OSError."""
    with smtplib.SMTP(
        config["MAIL_SERVER"], int(config["MAIL_PORT"]), timeout=SMTP_TIMEOUT
    ) as smtp:
        if config["MAIL_USE_TLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(message)


def outbox_folder(app: Flask) -> Path:
    return Path(app.config["MAIL_OUTBOX_DIR"] or Path(app.instance_path) / "mail")


def write_to_outbox(message: EmailMessage, *, folder: Path, key: str) -> str:
    """Write the message as `docket.<key>.eml` (replacing a previous run's) and return the name."""
    if not OUTBOX_KEY.match(key):
        raise ValueError(f"not an outbox key: {key!r}")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"docket.{key}.eml"
    partial = folder / f".{name}.partial"  # never listed: a reader sees whole files only
    partial.write_bytes(message.as_bytes(policy=policy.SMTP))
    os.replace(partial, folder / name)
    return name


@dataclass(frozen=True)
class OutboxMail:
    """One message in the embedded outbox, as its list shows it."""

    name: str
    date: datetime | None
    to: str
    subject: str
    case: str | None


def _date(value: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def outbox_mails(folder: Path, *, limit: int) -> list[OutboxMail]:
    """The newest `limit` messages in the outbox, newest first."""
    if not folder.is_dir():
        return []
    files = [
        p
        for p in folder.iterdir()
        if OUTBOX_FILE.match(p.name) and p.is_file() and not p.is_symlink()
    ]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    mails = []
    for path in files[:limit]:
        with path.open("rb") as handle:
            headers = BytesHeaderParser(policy=policy.default).parse(handle)
        mails.append(
            OutboxMail(
                name=path.name,
                date=_date(headers["Date"]),
                to=str(headers["To"] or ""),
                subject=str(headers["Subject"] or ""),
                case=headers[CASE_HEADER],
            )
        )
    return mails


def read_outbox_mail(folder: Path, name: str) -> EmailMessage:
    """The outbox message `name`; FileNotFoundError for any name that is not one of its files."""
    path = folder / name
    if not OUTBOX_FILE.match(name) or path.resolve().parent != folder.resolve():
        raise FileNotFoundError(name)
    with path.open("rb") as handle:
        return message_from_binary_file(handle, policy=policy.default)
