"""The public report form at /report: a notice becomes a report on a case, the reporter gets a
reference and a private link (by email too), and bad input is refused field by field with
nothing written."""

import hashlib
import re
from pathlib import Path

import pytest
from sqlmodel import select

from cases.intake.public_reports import PublicReport, submit_public_report
from cases.models import Case, Outbox, Report, Subject
from cases.trail.models import Blob
from tests.helpers import event_payloads, fresh, post_report, written
from tests.mailbox import link_in

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


@pytest.fixture
def config_overrides(mail_config) -> dict:
    return mail_config


TEXT = "Screenshot transcript: « je vais te retrouver »\n".encode()


def only_report(session) -> tuple[Report, Case]:
    fresh(session)
    report = session.exec(select(Report)).one()
    return report, session.get(Case, report.case_id)


def test_the_form_offers_the_policy_in_plain_words(client):
    page = client.get("/report").get_data(as_text=True)
    assert '<optgroup label="Protect people">' in page
    assert '<optgroup label="Keep minors safe">' in page
    # Clauses are offered by their plain description, valued by their id.
    assert '<option value="protect.threats">Threatening, intimidating or harassing' in page
    assert 'enctype="multipart/form-data"' in page
    # The honeypot is hidden by a class (CSP forbids inline styles) and skipped by keyboards.
    assert re.search(
        r'<div class="visually-hidden" aria-hidden="true">\s*<label for="homepage"', page
    )
    assert 'tabindex="-1"' in page


def test_a_report_opens_a_case_and_the_reporter_gets_a_reference_and_link(client, session, inbox):
    response = post_report(client)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/report/received")

    report, case = only_report(session)
    assert case.workflow_name == "standard" and case.state == "new"
    assert case.policy_clause == "protect.threats" and not case.restricted
    assert (report.reporter_name, report.reporter_email) == ("Ada Reporter", "ada@example.org")
    assert report.location == "https://social.example/posts/991"
    assert report.good_faith and not report.lacks_notice_contact
    ((_, intake),) = event_payloads(session, case.id, "intake")
    assert intake["subject"] == {"kind": "account", "id": "acct-4471"}
    assert intake["notice"]["explanation"].startswith("This account posted")

    page = client.get("/report/received")
    assert page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    assert case.reference in text and "We also send this link to ada@example.org" in text
    link = link_in(text)

    # The acknowledgement went over SMTP, with the reference and a working status link.
    (message,) = inbox.messages
    assert message["To"] == "ada@example.org"
    assert message["X-Envelope-To"] == "ada@example.org"
    assert case.reference in message["Subject"]
    outbox = session.exec(select(Outbox).where(Outbox.job == "notify_reporter")).one()
    assert message["Message-ID"] == f"<docket.{outbox.id}.{report.id}@docket.example>"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert case.reference in body
    status = client.get(link_in(body))
    assert status.status_code == 200
    assert case.reference in status.get_data(as_text=True)
    assert "received" in status.get_data(as_text=True)
    assert client.get(link).status_code == 200

    ((_, sent),) = event_payloads(session, case.id, "notification_sent")
    assert sent == {
        "outbox_id": outbox.id,
        "kind": "receipt",
        "recipient_role": "reporter",
        "recipient": "ada@example.org",
        "sent": True,
        "reason": None,
        "message_id": message["Message-ID"],
        "channel": "email",
        "attempt": 1,
        "report_id": report.id,
    }


INVALID = [
    ({"category": ""}, "category", "Choose what the report is about."),
    ({"category": "protect.nonsense"}, "category", "Choose one of the listed categories."),
    ({"url": "", "account_id": ""}, "url", "Say where it happened"),
    ({"url": "javascript:alert(1)"}, "url", "Give a full web address"),
    ({"url": "https://x.example/" + "a" * 2000}, "url", "longer than 2000 characters"),
    ({"explanation": ""}, "explanation", "Explain what you are reporting."),
    ({"explanation": "It said\x00 things"}, "explanation", "Remove the control characters"),
    ({"account_id": "acct\x00-1"}, "account_id", "Remove the control characters"),
    ({"reporter_name": ""}, "reporter_name", "Give your name."),
    ({"reporter_email": ""}, "reporter_email", "Give your email address."),
    ({"reporter_email": "ada-at-example"}, "reporter_email", "Give a valid email address."),
    ({"good_faith": None}, "good_faith", "Confirm the good-faith statement"),
]


@pytest.mark.parametrize(("changes", "field", "message"), INVALID)
def test_each_error_is_shown_next_to_its_field_and_nothing_is_written(
    client, session, inbox, changes, field, message
):
    response = post_report(client, **changes)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', page)
    assert error and message in error.group(1)
    control = re.search(rf'<(?:input|select|textarea)[^>]*\bid="{field}"[^>]*>', page).group(0)
    assert f"{field}-error" in control and 'aria-invalid="true"' in control
    assert written(session) == (0, 0, 0)
    assert inbox.messages == []


def test_a_child_safety_report_needs_no_name_or_email(client, session, inbox):
    response = post_report(client, category="minors.grooming", reporter_name="", reporter_email="")
    assert response.status_code == 302

    report, case = only_report(session)
    assert case.workflow_name == "child_safety" and case.restricted
    assert report.reporter_name is None and report.reporter_email is None
    # Name and email are not elements of a notice of child sexual abuse (DSA Art. 16(2)(c)), so
    # this notice is complete; the trail records that it came without them.
    assert report.lacks_notice_contact is False
    ((_, intake),) = event_payloads(session, case.id, "intake")
    assert intake["notice"]["reporter_email"] is None
    assert intake["notice"]["lacks_notice_contact"] is False
    # No address, so no acknowledgement: the confirmation page is the only place for the link.
    assert session.exec(select(Outbox)).all() == []
    page = client.get("/report/received").get_data(as_text=True)
    assert case.reference in page and "did not give an email address" in page
    assert client.get(link_in(page)).status_code == 200
    assert inbox.messages == []


def test_attachments_are_hashed_into_the_blob_store_with_evidence_events(app, client, session):
    named = "../../etc/screenshot.png"  # the path a client sends is not kept
    response = post_report(
        client,
        files=[
            (PNG, named, "application/octet-stream"),  # the sniffed type wins
            (PDF, "letter.pdf", "application/pdf"),
            (TEXT, "transcript.txt", "text/plain"),
        ],
    )
    assert response.status_code == 302
    report, case = only_report(session)
    added = event_payloads(session, case.id, "evidence_added")
    assert [p["filename"] for _, p in added] == ["screenshot.png", "letter.pdf", "transcript.txt"]
    for (header, payload), (content, media_type) in zip(
        added,
        [(PNG, "image/png"), (PDF, "application/pdf"), (TEXT, "text/plain")],
        strict=True,
    ):
        sha256 = hashlib.sha256(content).hexdigest()
        assert header["blobs"] == [sha256]
        assert payload == {
            "report_id": report.id,
            "filename": payload["filename"],
            "media_type": media_type,
            "size": len(content),
            "md5": hashlib.md5(content).hexdigest(),
            "sha1": hashlib.sha1(content).hexdigest(),
        }
        blob = session.get(Blob, sha256)
        assert (blob.md5, blob.sha1, blob.size) == (payload["md5"], payload["sha1"], len(content))
        stored = Path(app.instance_path) / "blobs" / sha256[:2] / sha256[2:4] / sha256
        assert stored.read_bytes() == content


def test_child_safety_attachments_go_to_the_restricted_area(app, client, session):
    response = post_report(client, category="minors.csam", files=[(PNG, "image.png", "image/png")])
    assert response.status_code == 302
    sha256 = hashlib.sha256(PNG).hexdigest()
    assert session.get(Blob, sha256).restricted
    restricted = Path(app.instance_path) / "blobs-restricted" / sha256[:2] / sha256[2:4] / sha256
    assert restricted.read_bytes() == PNG
    assert not (Path(app.instance_path) / "blobs").exists()


REJECTED = [
    ([(b"A" * 2048, "long.txt", "text/plain")], "long.txt is larger than 1 KiB."),
    ([(b"PK\x03\x04" + bytes(40), "photo.png", "image/png")], "photo.png is not a PNG, JPEG"),
    ([(b"MZ\x90\x00\x03", "setup.pdf", "application/pdf")], "setup.pdf is not"),
    ([(b"plain words\x00\x01binary", "notes.txt", "text/plain")], "notes.txt is not"),
    ([(b"\xff\xfe\x00latin", "notes.txt", "text/plain")], "notes.txt is not"),
    ([(b"", "empty.png", "image/png")], "empty.png is empty."),
    ([(PNG, f"{n}.png", "image/png") for n in range(6)], "Attach at most 5 files."),
]


@pytest.mark.parametrize(("files", "message"), REJECTED)
def test_a_refused_attachment_is_reported_and_nothing_is_written(
    app, client, session, inbox, files, message
):
    app.config["REPORT_ATTACHMENT_MAX_BYTES"] = 1024
    response = post_report(client, files=[(PNG, "fine.png", "image/png"), *files][-6:])
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = re.search(r'<p class="error" id="attachments-error">([^<]*)</p>', page)
    assert error and message in error.group(1)
    assert written(session) == (0, 0, 0)
    assert session.exec(select(Blob)).all() == []
    blobs = Path(app.instance_path) / "blobs"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))
    assert inbox.messages == []


def test_a_body_over_the_form_limit_is_refused_before_reading(app, client, session):
    app.config.update(REPORT_ATTACHMENT_MAX_BYTES=1024, REPORT_ATTACHMENT_MAX_FILES=1)
    big = b"x" * (2 << 20)  # past one file's limit plus the form allowance (1 MiB)
    response = post_report(client, files=[(big, "big.txt", "text/plain")])
    assert response.status_code == 413
    assert written(session) == (0, 0, 0)


def test_the_form_takes_more_than_max_content_length_when_attachments_allow(app, client, session):
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, REPORT_ATTACHMENT_MAX_BYTES=100 * 1024)
    content = b"%PDF-1.4\n" + b"0" * (90 * 1024)
    response = post_report(client, files=[(content, "large.pdf", "application/pdf")])
    assert response.status_code == 302
    assert written(session)[0] == 1


def test_a_filled_honeypot_pretends_success_and_writes_nothing(client, session, inbox):
    response = post_report(client, homepage="https://cheap-pills.example")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "your report was received" in page
    assert "DK-" not in page and "/my/" not in page
    assert written(session) == (0, 0, 0)
    assert inbox.messages == []


def test_a_post_without_the_csrf_token_is_refused(client, session, inbox):
    response = post_report(client, csrf=False)
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert written(session) == (0, 0, 0)


def test_the_service_accepts_a_notice_without_contact_and_marks_it(session):
    notice = PublicReport(
        category="protect.threats",
        explanation="Threats.",
        content_id="msg-77",
        good_faith=True,
    )
    outcome = submit_public_report(session, report=notice)
    # DSA Art. 16(2)(c): outside child sexual abuse, a notice lacking them is still taken in.
    assert outcome.report.lacks_notice_contact is True
    assert (outcome.case.subject_id, outcome.report.content_ref) == (
        session.exec(select(Subject).where(Subject.external_id == "msg-77")).one().id,
        "msg-77",
    )
