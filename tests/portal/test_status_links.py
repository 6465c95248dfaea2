"""Private links: signed tokens carrying only a link's id, expiring with their row, one per
holder; what a reporter and an affected user see; every use on the trail; where a case stands in
plain words."""

import logging
from datetime import timedelta

import pytest
import time_machine
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from cases.core.sqltypes import utcnow
from cases.enums import AppealOutcome, AppellantKind, EventType, Restriction
from cases.lifecycle.deployed import definitions
from cases.models import Appeal, Case, Decision, StatusLink
from cases.notices.wording import long_time
from cases.portal.links import (
    STATUS_LINK_SALT,
    LinkExpired,
    LinkInvalid,
    issue_link,
    read_link,
    status_token,
)
from cases.portal.service import PublicStatus, public_status
from cases.trail.store import append_event
from tests.factories import make_case
from tests.helpers import count, event_payloads, fresh

FACTS = "On 3 May the account sent repeated threats of violence to another user."


def decide(session, case: Case, restriction: str = Restriction.temporary_suspension) -> Decision:
    """A decision row as the decision service writes one (for tests of what pages show)."""
    decision = Decision(
        case_id=case.id,
        policy_clause="protect.threats",
        restriction=restriction,
        duration_days=30,
        territorial_scope=["EU"],
        automated_detection=True,
        automated_decision=False,
        facts=FACTS,
        ground="Usage policies, Protect people: threats and harassment.",
        redress="Reply through the appeal form on this page within six months.",
    )
    session.add(decision)
    session.flush()
    return decision


@pytest.fixture
def enforced(session, reported):
    """A reported case with a decision on it: (report, case, decision)."""
    report, case = reported()
    decision = decide(session, case)
    case.state, case.stage = "enforced", "enforcement"
    session.commit()
    return report, case, decision


def token_of(path: str) -> str:
    return path.rsplit("/", 1)[1]


def test_the_reporter_sees_their_report_and_the_outcome_in_general_terms(client, enforced, link_to):
    report, case, _ = enforced
    response = client.get(link_to(case, report))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert case.reference in page and "action taken" in page
    assert long_time(report.received_at) in page
    assert "We took action under Threats, intimidation, harassment or defamation." in page
    # The restriction, its length and scope, the facts and the subject are the affected user's.
    for private in ("suspended", "30 days", "EU", FACTS, "acct-9001"):
        assert private not in page


def test_the_affected_user_sees_the_statement_of_reasons(client, enforced, link_to):
    _, case, decision = enforced
    page = client.get(link_to(case)).get_data(as_text=True)
    assert case.reference in page and "acct-9001" in page
    for element in (
        "30 days",
        "EU",
        FACTS,
        decision.ground,
        "Threats, intimidation, harassment or defamation",
        decision.redress,
    ):
        assert element in page
    # Nothing about who reported it.
    assert "Reporter Person" not in page and "reporter@example.org" not in page


def test_a_case_without_a_decision_says_so_to_the_affected_user(client, reported, link_to):
    _, case = reported()
    page = client.get(link_to(case)).get_data(as_text=True)
    assert "No decision has been made yet." in page
    assert "Appeal this decision" not in page


def test_an_anonymous_child_safety_reporter_follows_their_report(client, reported, link_to):
    report, case = reported(category="minors.grooming", reporter_name=None, reporter_email=None)
    assert case.restricted
    response = client.get(link_to(case, report))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert case.reference in page and "received" in page and "acct-9001" not in page


def test_each_holder_has_a_link_of_their_own_and_the_token_carries_only_its_id(
    app, session, reported
):
    first, case = reported()
    second, same_case = reported(reporter_email="other@example.org", reporter_name="Other")
    assert same_case.id == case.id  # grouped on the same subject
    links = [
        issue_link(session, case=case, holder=AppellantKind.affected_user),
        issue_link(session, case=case, holder=AppellantKind.reporter, report=first),
        issue_link(session, case=case, holder=AppellantKind.reporter, report=second),
    ]
    session.commit()
    assert len({link.id for link in links}) == 3
    for link in links:
        token = status_token(link)
        payload = URLSafeSerializer(app.config["SECRET_KEY"], salt=STATUS_LINK_SALT).loads(token)
        assert payload == link.id
        assert read_link(session, token).id == link.id
    # Asking again gives the holder's current link, not another one.
    again = issue_link(session, case=case, holder=AppellantKind.reporter, report=first)
    assert again.id == links[1].id


def forged(app, data) -> str:
    return URLSafeSerializer(app.config["SECRET_KEY"], salt=STATUS_LINK_SALT).dumps(data)


def tampered(token: str) -> str:
    payload, signature = token.split(".")
    return f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


@pytest.mark.parametrize(
    "make_token",
    [
        lambda app, link: tampered(status_token(link)),
        lambda app, link: "not-a-token",
        lambda app, link: "A" * 5000,
        # Signed with the app's key, but for another purpose (salt): not a status link.
        lambda app, link: URLSafeSerializer(app.config["SECRET_KEY"]).dumps(link.id),
        lambda app, link: URLSafeTimedSerializer(
            app.config["SECRET_KEY"], salt="docket.status-link"
        ).dumps({"role": "reporter", "id": link.report_id}),
        lambda app, link: forged(app, link.id + 1000),
        lambda app, link: forged(app, True),
        lambda app, link: forged(app, str(link.id)),
        lambda app, link: forged(app, {"id": link.id}),
    ],
    ids=[
        "tampered",
        "garbage",
        "huge",
        "other-salt",
        "old-format",
        "no-such-link",
        "bool",
        "string",
        "object",
    ],
)
def test_a_bad_link_is_refused_with_404(app, client, session, enforced, make_token):
    report, case, _ = enforced
    link = issue_link(session, case=case, holder=AppellantKind.reporter, report=report)
    session.commit()
    response = client.get(f"/my/{make_token(app, link)}")
    assert response.status_code == 404
    assert "This link is not valid" in response.get_data(as_text=True)
    assert count(fresh(session), StatusLink) == 1
    assert event_payloads(session, case.id, EventType.link_used) == []


def test_a_link_expires_at_its_time(app, client, session, enforced):
    report, case, _ = enforced
    link = issue_link(session, case=case, holder=AppellantKind.reporter, report=report)
    session.commit()
    path = f"/my/{status_token(link)}"
    with time_machine.travel(link.expires_at - timedelta(seconds=1), tick=False):
        assert client.get(path).status_code == 200
    with time_machine.travel(link.expires_at + timedelta(seconds=1), tick=False):
        response = client.get(path)
        assert response.status_code == 410
        text = response.get_data(as_text=True)
        assert "This link has expired" in text and "we will send you a new one" in text
        with pytest.raises(LinkExpired):
            read_link(session, status_token(link))
    with pytest.raises(LinkInvalid):
        read_link(session, tampered(status_token(link)))


def test_a_link_never_shows_another_case(client, session, reported, link_to):
    report, case = reported()
    other_report, other = reported(account_id="acct-7777", reporter_email="b@example.org")
    assert other.id != case.id
    page = client.get(link_to(case)).get_data(as_text=True)
    assert case.reference in page and other.reference not in page and "acct-7777" not in page
    page = client.get(link_to(other, other_report)).get_data(as_text=True)
    assert other.reference in page and case.reference not in page
    # A reporter's link naming a report of another case is not honoured at all.
    crossed = StatusLink(
        case_id=case.id,
        holder=AppellantKind.reporter,
        report_id=other_report.id,
        issued_at=utcnow(),
        expires_at=utcnow() + timedelta(days=30),
    )
    session.add(crossed)
    session.commit()
    assert client.get(f"/my/{status_token(crossed)}").status_code == 404
    with pytest.raises(ValueError):
        issue_link(session, case=case, holder=AppellantKind.reporter, report=other_report)


def test_every_view_is_a_use_on_the_trail(client, session, enforced, link_to):
    report, case, _ = enforced
    path = link_to(case, report)
    client.get(path)
    client.get(path)
    link = fresh(session).get(StatusLink, read_link(session, token_of(path)).id)
    used = event_payloads(session, case.id, EventType.link_used)
    assert [payload for _, payload in used] == [
        {"link_id": link.id, "holder": "reporter", "action": "viewed"}
    ] * 2
    assert {header["actor"] for header, _ in used} == {f"link:{link.id}"}
    assert link.last_used_at is not None
    ((_, issued),) = event_payloads(session, case.id, EventType.link_issued)
    assert issued["link_id"] == link.id and issued["report_id"] == report.id


def test_request_logs_never_show_a_token(client, enforced, link_to, caplog):
    report, case, _ = enforced
    token = token_of(link_to(case, report))
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        # What the development server writes for each request.
        logging.getLogger("werkzeug").info('"%s" %s %s', f"GET /my/{token} HTTP/1.1", 200, 512)
        logging.getLogger("werkzeug").info('"%s" %s', f"POST /my/{token}/appeal HTTP/1.1", 303)
    assert "/my/[redacted]" in caplog.text and "/my/[redacted]/appeal" in caplog.text
    assert token not in caplog.text


def test_the_status_page_keeps_the_referrer_on_this_site(client, enforced, link_to):
    report, case, _ = enforced
    response = client.get(link_to(case, report))
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Robots-Tag"] == "noindex"


# --- where a case stands, in plain words ---------------------------------------------------------

STATUSES = [
    ("standard", "new", "intake", None, None, PublicStatus.received),
    ("standard", "triage", "triage", None, None, PublicStatus.under_review),
    ("standard", "awaiting_information", "triage", None, None, PublicStatus.under_review),
    ("standard", "escalated", "escalation", None, None, PublicStatus.under_review),
    ("standard", "enforcement", "enforcement", None, None, PublicStatus.under_review),
    ("standard", "enforced", "enforcement", "termination", None, PublicStatus.action_taken),
    ("standard", "enforced", "enforcement", "no_action", None, PublicStatus.no_action),
    ("standard", "dismissed", "resolved", "no_action", None, PublicStatus.no_action),
    ("standard", "appeal_review", "appeal", "warn", None, PublicStatus.under_review),
    ("standard", "upheld", "resolved", "warn", "upheld", PublicStatus.action_taken),
    ("standard", "reversed", "resolved", "warn", "reversed", PublicStatus.no_action),
    # Once closed, the outcome still shows: "closed" would read as an account closure.
    ("standard", "closed", "resolved", "warn", None, PublicStatus.action_taken),
    ("standard", "closed", "resolved", "no_action", None, PublicStatus.no_action),
    ("child_safety", "assessment", "triage", None, None, PublicStatus.under_review),
    ("child_safety", "no_report", "resolved", None, None, PublicStatus.no_action),
    ("child_safety", "reported", "resolved", None, None, PublicStatus.action_taken),
]


@pytest.mark.parametrize(
    ("workflow", "state", "stage", "restriction", "appeal", "expected"), STATUSES
)
def test_public_status_follows_the_stage_and_the_outcome(
    app, session, workflow, state, stage, restriction, appeal, expected
):
    case = make_case(session, workflow=workflow, state=state, stage=stage)
    case.workflow_digest = definitions().current(workflow).digest
    if restriction:
        decision = decide(session, case, restriction)
        if appeal:
            session.add(
                Appeal(
                    case_id=case.id,
                    decision_id=decision.id,
                    appellant=AppellantKind.affected_user,
                    grounds="I did not do it.",
                    window_closes_at=utcnow() + timedelta(days=183),
                    outcome=AppealOutcome(appeal),
                )
            )
    if state == "reported":
        append_event(session, case=case, type=EventType.ncmec_report_finished, actor="test")
    session.flush()
    assert public_status(session, case=case) == expected
