"""The embedded outbox: with no MAIL_SERVER (what `make run` uses), messages are written as .eml
files under instance/mail/ and admins read them at /admin/mail, links clickable; nobody else
may, and no name from a URL reaches outside the folder."""

import re
from pathlib import Path

import pytest

from cases.enums import MessageChannel, MessageStatus, Role
from tests.factories import make_user
from tests.helpers import login
from tests.mailbox import PUBLIC_BASE_URL
from tests.notices.conftest import AFFECTED, REPORTER, messages, sent_events


@pytest.fixture
def config_overrides() -> dict:
    # The embedded default: no mail server, the outbox under the instance folder.
    return {"PUBLIC_BASE_URL": PUBLIC_BASE_URL, "NOTICE_DELIVERY": "email"}


def outbox(app) -> Path:
    return Path(app.instance_path) / "mail"


def as_admin(client, session) -> None:
    admin = make_user(session, role=Role.admin)
    session.commit()
    login(client, admin.email)


def test_without_a_mail_server_messages_go_to_the_outbox(app, session, reported, decided):
    case = decided(reported())
    names = sorted(p.name for p in outbox(app).iterdir())
    rows = messages(session, case)
    assert len(names) == len(rows) == 3  # the receipt, the decision notice, the outcome
    assert all(name.startswith("docket.") and name.endswith(".eml") for name in names)
    assert {(m.channel, m.status) for m in rows} == {(MessageChannel.outbox, MessageStatus.sent)}
    notice = sent_events(session, case, kind="decision_notice")[0]
    assert (notice["channel"], notice["sent"], notice["recipient"]) == ("outbox", True, AFFECTED)


def test_an_admin_reads_the_outbox_and_follows_its_links(app, client, session, reported, decided):
    case = decided(reported())
    as_admin(client, session)
    listing = client.get("/admin/mail")
    assert listing.status_code == 200 and listing.headers["Cache-Control"] == "no-store"
    page = listing.get_data(as_text=True)
    for expected in (
        f"A decision about your account ({case.reference})",
        f"Your report {case.reference}",
        AFFECTED,
        REPORTER,
        f'href="/cases/{case.reference}"',
    ):
        assert expected in page
    (notice_href,) = re.findall(r'href="(/admin/mail/docket\.[0-9.]+\.eml)">A decision', page)

    message = client.get(notice_href).get_data(as_text=True)
    assert "STATEMENT OF REASONS" in message and AFFECTED in message
    links = re.findall(
        r'<a href="(http://docket\.test/my/[^"]+)" rel="noopener noreferrer"', message
    )
    assert links, "the text part's private link is clickable"
    assert f'src="{notice_href}/html"' in message and 'sandbox="allow-popups' in message

    html = client.get(f"{notice_href}/html")
    assert html.status_code == 200 and html.mimetype == "text/html"
    policy = html.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy and "script" not in policy
    assert html.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert f'<a href="{links[0]}">' in html.get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/admin/mail")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", [Role.reviewer, Role.lead, Role.auditor, Role.child_safety])
def test_other_roles_may_not_read_the_outbox(app, client, session, reported, role):
    reported()
    (name,) = [p.name for p in outbox(app).iterdir()]
    user = make_user(session, role=role)
    session.commit()
    login(client, user.email)
    for url in ("/admin/mail", f"/admin/mail/{name}", f"/admin/mail/{name}/html"):
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize(
    "name",
    [
        "..%2Fsecret.eml",
        "%2E%2E%2Fsecret.eml",
        "..%5Csecret.eml",
        "..",
        "secret.eml",
        "docket.1.eml%00",
        "docket.999.eml",
    ],
)
def test_a_name_from_the_url_never_leaves_the_folder(app, client, session, reported, name):
    reported()
    Path(app.instance_path, "secret.eml").write_bytes(b"Subject: secret\r\n\r\nsecret\r\n")
    (outbox(app) / "secret.eml").write_bytes(b"Subject: not ours\r\n\r\nnot ours\r\n")
    as_admin(client, session)
    for suffix in ("", "/html"):
        response = client.get(f"/admin/mail/{name}{suffix}")
        assert response.status_code == 404, (name, suffix)
        assert "secret" not in response.get_data(as_text=True).replace(name, "")
