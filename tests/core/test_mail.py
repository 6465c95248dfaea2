"""Mail transport: multipart text + HTML messages over real SMTP (aiosmtpd), and the embedded
outbox's files, whose names from outside can never reach beyond its folder."""

import os
import smtplib
import time

import pytest

from cases.core.mail import (
    compose_mail,
    message_id,
    outbox_mails,
    read_outbox_mail,
    send_mail,
    write_to_outbox,
)

CONFIG = {
    "MAIL_FROM": "Docket <no-reply@docket.example>",
    "MAIL_SERVER": "127.0.0.1",
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USERNAME": None,
}


def mail(key: str = "7", **changes):
    fields = {
        "to": "ada@example.org",
        "subject": "Your report DK-2026-000007",
        "text": "Follow it at http://docket.test/my/abc",
        "html": '<p>Follow it <a href="http://docket.test/my/abc">here</a>.</p>',
        "config": CONFIG,
        "message_id": message_id(CONFIG, key),
        "case": "DK-2026-000007",
    }
    return compose_mail(**{**fields, **changes})


def test_a_message_has_a_text_and_an_html_part_and_stable_headers():
    message = mail()
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert message.get_body(preferencelist=("html",)) is html  # clients prefer the HTML part
    assert message["Message-ID"] == "<docket.7@docket.example>" == message_id(CONFIG, "7")
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Docket-Case"] == "DK-2026-000007"


def test_it_is_sent_over_smtp(inbox):
    send_mail(mail(), config={**CONFIG, "MAIL_PORT": inbox.port})
    (received,) = inbox.messages
    assert received["X-Envelope-To"] == "ada@example.org"
    assert received.get_body(preferencelist=("plain",)).get_content().startswith("Follow it")
    assert "<a href=" in received.get_body(preferencelist=("html",)).get_content()


def test_an_smtp_failure_raises():
    with pytest.raises(OSError):
        send_mail(mail(), config={**CONFIG, "MAIL_PORT": 1})


def test_a_refused_address_raises_recipients_refused(inbox):
    inbox.refused.add("ada@example.org")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_mail(mail(), config={**CONFIG, "MAIL_PORT": inbox.port})


def test_the_outbox_keeps_one_file_per_key_newest_first(tmp_path):
    folder = tmp_path / "mail"
    assert outbox_mails(folder, limit=10) == []
    first = write_to_outbox(mail("7"), folder=folder, key="7")
    second = write_to_outbox(mail("8.3", to="bo@example.org"), folder=folder, key="8.3")
    os.utime(folder / first, (time.time() - 60, time.time() - 60))
    assert write_to_outbox(mail("8.3"), folder=folder, key="8.3") == second  # a rerun rewrites
    (folder / "notes.txt").write_text("not a message")
    (folder / ".docket.9.eml.partial").write_text("half written")
    listed = outbox_mails(folder, limit=10)
    assert [m.name for m in listed] == ["docket.8.3.eml", "docket.7.eml"]
    assert (listed[1].to, listed[1].subject, listed[1].case) == (
        "ada@example.org",
        "Your report DK-2026-000007",
        "DK-2026-000007",
    )
    assert listed[1].date is not None
    assert [m.name for m in outbox_mails(folder, limit=1)] == ["docket.8.3.eml"]
    assert read_outbox_mail(folder, first)["Message-ID"] == "<docket.7@docket.example>"


@pytest.mark.parametrize("key", ["../7", "7/..", "", "a", "7\x00"])
def test_an_outbox_key_is_digits_and_dots_only(tmp_path, key):
    with pytest.raises(ValueError):
        write_to_outbox(mail(), folder=tmp_path, key=key)


@pytest.mark.parametrize(
    "name",
    [
        "../secret.eml",
        "..",
        "/etc/passwd",
        "docket.7.eml/../../secret.eml",
        "docket.7.eml\x00",
        "secret.eml",
        "docket.8.eml",
        "docket.link.eml",
    ],
)
def test_reading_refuses_any_name_but_an_outbox_file(tmp_path, name):
    folder = tmp_path / "mail"
    write_to_outbox(mail(), folder=folder, key="7")
    (tmp_path / "secret.eml").write_text("Subject: secret\n\nsecret\n")
    (folder / "secret.eml").write_text("Subject: secret\n\nsecret\n")
    (folder / "docket.link.eml").symlink_to(tmp_path / "secret.eml")
    with pytest.raises(FileNotFoundError):
        read_outbox_mail(folder, name)


def test_a_link_planted_under_an_outbox_name_is_refused(tmp_path):
    folder = tmp_path / "mail"
    folder.mkdir()
    (tmp_path / "secret.eml").write_text("Subject: secret\n\nsecret\n")
    (folder / "docket.5.eml").symlink_to(tmp_path / "secret.eml")
    with pytest.raises(FileNotFoundError):
        read_outbox_mail(folder, "docket.5.eml")
    assert outbox_mails(folder, limit=10) == []
