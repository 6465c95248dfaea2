"""An affected user appeals in the real UI: a reviewer decides, the notice lands in the embedded
outbox, the user follows its private link and appeals with an attachment, a second reviewer
reverses the decision, and the user's page shows the outcome."""

import email
from dataclasses import replace
from email import policy

import pytest
from sqlmodel import select

from cases.intake.service import SubjectRef, receive
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import transition_case
from cases.models import Appeal, Case, Decision
from cases.review.claims import claim_case
from tests.browser.test_reviewer_flow import open_transition
from tests.casework import detection
from tests.factories import PASSWORD, make_user
from tests.helpers import fresh

pytestmark = pytest.mark.browser


@pytest.fixture
def config_overrides(tmp_path) -> dict:
    return {"MAIL_SERVER": "", "MAIL_OUTBOX_DIR": str(tmp_path / "mail")}


def sign_in(page, live_server: str, email_address: str) -> None:
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(email_address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def the_notice_link(folder) -> str:
    """The private link in the decision notice the embedded outbox holds."""
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["Subject"].startswith("A decision about your account"):
            text = message.get_body(preferencelist=("plain",)).get_content()
            return next(word for word in text.split() if "/my/" in word).rstrip(".,)")
    raise AssertionError(f"no decision notice among {list(folder.iterdir())}")


def test_a_user_appeals_and_a_second_reviewer_reverses(
    page, chromium, live_server, app, session, tmp_path
):
    app.config["PUBLIC_BASE_URL"] = live_server  # the links Docket gives out point here
    decider = make_user(session, role="reviewer", email="decider@example.org")
    make_user(session, role="lead", email="hearer@example.org")
    item = replace(
        detection("harassment/threatening", score=0.97),
        subject=SubjectRef(
            "account", "acct-5150", "Account 5150", contact_email="kim@users.example"
        ),
    )
    with app.test_request_context():
        case = receive(session, item=item, actor=Actor.system("test")).case
        actor = Actor.staff(decider)
        transition_case(session, case=case, transition="start_triage", actor=actor)
        claim_case(session, case=case, actor=actor)
        transition_case(
            session,
            case=case,
            transition="send_to_enforcement",
            actor=actor,
            fields={"policy_clause": "protect.threats"},
        )
        session.commit()

    # The reviewer decides on the case page.
    sign_in(page, live_server, "decider@example.org")
    page.goto(f"{live_server}/cases/{case.reference}")
    form = open_transition(page, "decide")
    form.get_by_label("Policy clause breached").select_option("protect.threats")
    form.get_by_label("Restriction").select_option("temporary_suspension")
    form.get_by_label("Duration in days").fill("30")
    form.get_by_label("Facts and circumstances").fill(
        "Three messages on 3 May threatened another user by name."
    )
    form.locator("input[name$='automated_detection'][value='yes']").check()
    form.locator("input[name$='automated_decision'][value='no']").check()
    form.get_by_label("Ground: how the clause applies").fill(
        "Threats of violence breach the clause on threats and intimidation."
    )
    form.get_by_role("button", name="Decide and enforce").click()
    page.wait_for_load_state()
    assert "Enforced" in page.locator("#summary-heading + dl").inner_text()

    # The affected user follows the link in the notice, with no account, and appeals.
    link = the_notice_link(tmp_path / "mail")
    visitor = chromium.new_context().new_page()
    visitor.goto(link)
    text = visitor.content()
    assert "suspended" in text and "30 days" in text and "Three messages on 3 May" in text
    visitor.get_by_label("Why is the decision wrong?").fill(
        "Those messages were quotes from a film we were discussing; here is the chat."
    )
    visitor.locator("input[type='file']").set_input_files(
        files=[
            {"name": "chat.txt", "mimeType": "text/plain", "buffer": b"A: that line from the film"}
        ]
    )
    visitor.get_by_role("button", name="Send the appeal").click()
    visitor.wait_for_load_state()
    assert "appeal" in visitor.content().lower()
    fresh(session)
    appeal = session.exec(select(Appeal)).one()
    assert len(appeal.attachments) == 1 and session.get(Case, case.id).state == "appeal"

    # A second reviewer, who did not decide, hears it from the case page and reverses.
    page.context.clear_cookies()
    sign_in(page, live_server, "hearer@example.org")
    page.goto(f"{live_server}/cases/{case.reference}")
    open_transition(page, "start_appeal_review").get_by_role(
        "button", name="Start appeal review"
    ).click()
    page.wait_for_load_state()
    page.get_by_role("button", name="Claim").first.click()
    page.wait_for_load_state()
    form = open_transition(page, "reverse")
    form.get_by_label("Decision on the appeal").fill(
        "The chat shows the words were a film quote, not a threat; the suspension is lifted."
    )
    form.get_by_label("Facts and circumstances").fill("The quoted lines come from a film.")
    form.locator("input[name$='automated_detection'][value='yes']").check()
    form.locator("input[name$='automated_decision'][value='no']").check()
    form.get_by_label("Ground: how the clause applies").fill("No threat was made.")
    form.get_by_role("button", name="Reverse the decision").click()
    page.wait_for_load_state()
    fresh(session)
    assert session.get(Case, case.id).state == "reversed"
    assert session.get(Appeal, appeal.id).outcome == "reversed"
    lifted = session.exec(select(Decision).order_by(Decision.id.desc())).first()
    assert lifted.restriction == "no_action"

    # The user sees the outcome on their page.
    visitor.goto(link)
    assert "The appeal succeeded" in visitor.content()
    assert "film quote" in visitor.content()
    visitor.screenshot(path="/tmp/docket-appeal-outcome.png", full_page=True)
