"""The people without a staff account and the auditor, in the real UI: a reporter files a notice
and follows its private status link; an auditor verifies a case and downloads its bundle."""

import pytest
from sqlmodel import select

from cases.models import Case
from cases.trail.verify import verify_bundle
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser


def test_a_reporter_files_a_notice_and_follows_the_status_link(page, live_server, session, app):
    app.config["PUBLIC_BASE_URL"] = live_server  # the links Docket gives out point here
    page.goto(f"{live_server}/report")
    page.get_by_label("What is it about?").select_option("protect.threats")
    page.get_by_label("Account id").fill("acct-2290")
    page.get_by_label("What happened?").fill(
        "This account's assistant keeps sending me messages saying it knows where I live."
    )
    page.get_by_label("Your name").fill("Sam Reporter")
    page.get_by_label("Your email address").fill("sam@example.org")
    page.get_by_label("I believe in good faith").check()
    page.locator("input[type='file']").set_input_files(
        files=[
            {
                "name": "screenshot.png",
                "mimeType": "image/png",
                "buffer": b"\x89PNG\r\n\x1a\n" + bytes(64),
            }
        ]
    )
    page.get_by_role("button", name="Send").click()
    page.wait_for_load_state()
    case = session.exec(select(Case)).one()
    assert case.reference in page.content()
    link = page.locator("a[href*='/my/']").first.get_attribute("href")
    page.goto(link)
    assert case.reference in page.content()
    page.screenshot(path="/tmp/docket-status.png", full_page=True)


def test_an_auditor_verifies_and_exports(page, live_server, session, tmp_path, app):
    from cases.enums import EventType
    from cases.trail.store import append_event
    from tests.factories import make_case

    case = make_case(session)
    append_event(session, case=case, type=EventType.note, actor="user:1", payload={"text": "x"})
    make_user(session, role="auditor", email="aud@example.org")
    session.commit()
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill("aud@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Audit").first.click()
    page.locator("#verify-reference").fill(case.reference)
    page.get_by_role("button", name="Verify").click()
    page.wait_for_load_state()
    assert "PASS" in page.locator(".verify-result").inner_text()
    page.locator("#export-reference").fill(case.reference)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export bundle").click()
    bundle = tmp_path / "bundle.zip"
    download.value.save_as(bundle)
    key = page.request.get(f"{live_server}/audit/public-key.txt").text().strip()
    verify_bundle(bundle, verifier_key=key)
