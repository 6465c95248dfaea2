"""A reviewer works a case end to end in the real UI: claim next, triage, decide with a statement
of reasons, and the case ends enforced with a verifiable trail."""

import json

import pytest
from sqlmodel import select

from cases.enums import ReportSource
from cases.intake.moderation import parse_moderation
from cases.intake.service import IntakeItem, SubjectRef, receive
from cases.lifecycle.actors import Actor
from cases.models import Case, Decision
from cases.trail.events import verify_chain
from cases.trail.store import case_records
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def detected_case(app, session):
    body = {
        "model": "omni-moderation-latest",
        "results": [
            {
                "flagged": True,
                "categories": {"harassment/threatening": True},
                "category_scores": {"harassment/threatening": 0.97},
            }
        ],
    }
    with app.test_request_context():
        outcome = receive(
            session,
            item=IntakeItem(
                source=ReportSource.classifier,
                source_name="moderation-pipeline",
                subject=SubjectRef("account", "acct-4471", "Account 4471"),
                moderation=parse_moderation(body),
                raw_payload=json.dumps(body),
            ),
            actor=Actor.system("test"),
        )
        session.commit()
    return outcome.case


def open_transition(page, name: str):
    details = page.locator(f"#transition-{name}")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    return details.locator("form")


def test_a_reviewer_claims_triages_and_decides(page, live_server, session, detected_case):
    make_user(session, role="reviewer", email="rev@example.org")
    session.commit()
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill("rev@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Queues").first.click()
    page.get_by_role("button", name="Claim next in").first.click()
    page.wait_for_url(f"**/cases/{detected_case.reference}")
    assert "chain verified" in page.content()

    open_transition(page, "start_triage").get_by_role("button", name="Start triage").click()
    page.wait_for_load_state()
    form = open_transition(page, "send_to_enforcement")
    form.get_by_label("Policy clause breached").select_option("protect.threats")
    form.get_by_role("button", name="Violation likely").click()
    page.wait_for_load_state()

    form = open_transition(page, "decide")
    form.get_by_label("Policy clause breached").select_option("protect.threats")
    form.get_by_label("Restriction").select_option("temporary_suspension")
    form.get_by_label("Duration in days").fill("14")
    form.get_by_label("Facts and circumstances").fill(
        "The account sent three threatening messages naming the victim's street."
    )
    form.locator("input[name$='automated_detection'][value='yes']").check()
    form.locator("input[name$='automated_decision'][value='no']").check()
    form.get_by_label("Ground: how the clause applies").fill(
        "Threats of violence breach the clause on threats and intimidation."
    )
    form.get_by_role("button", name="Preview the notice").click()
    page.wait_for_load_state()
    assert "what the affected user will receive" in page.content()
    open_transition(page, "decide").get_by_role("button", name="Decide and enforce").click()
    page.wait_for_load_state()
    page.screenshot(path="/tmp/docket-case-enforced.png", full_page=True)
    assert "Enforced" in page.locator("#summary-heading + dl").inner_text()

    session.expire_all()
    case = session.get(Case, detected_case.id)
    assert case.state == "enforced"
    decision = session.exec(select(Decision).where(Decision.case_id == case.id)).one()
    assert decision.restriction == "temporary_suspension" and decision.duration_days == 14
    summary = verify_chain(case.reference, case_records(session, case_id=case.id))
    assert summary.count >= 6  # intake, claim, three transitions, the decision
