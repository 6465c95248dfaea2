"""Private status links: signed, expiring, role-bound; what a reporter and an affected user see;
where a case stands in plain words."""

import logging
from datetime import timedelta

import pytest
import time_machine
from itsdangerous import URLSafeTimedSerializer

from cases.core.sqltypes import utcnow
from cases.enums import AppealOutcome, AppellantKind, EventType, Restriction
from cases.intake.public_reports import PublicReport, submit_public_report
from cases.lifecycle.deployed import definitions
from cases.models import Appeal, Case, Decision
from cases.portal.links import (
    LinkExpired,
    LinkHolder,
    LinkInvalid,
    affected_user_link,
    read_status_token,
    status_link,
    status_token,
)
from cases.portal.service import PublicStatus, public_status
from cases.trail.store import append_event
from tests.factories import make_case

FACTS = "On 3 May the account sent repeated threats of violence to another user."


def notice(**changes) -> PublicReport:
    fields = {
        "category": "protect.threats",
        "explanation": "Threats in direct messages.",
        "account_id": "acct-9001",
        "reporter_name": "Reporter Person",
        "reporter_email": "reporter@example.org",
        "good_faith": True,
    }
    return PublicReport(**{**fields, **changes})


def decide(session, case: Case, restriction: str = Restriction.temporary_suspension) -> Decision:
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
def reported(app, session):
    """A report opening a case, and the decision taken on it."""
    outcome = submit_public_report(session, report=notice())
    decision = decide(session, outcome.case)
    outcome.case.state, outcome.case.stage = "enforced", "enforcement"
    session.commit()
    return outcome.report, outcome.case, decision


def test_the_reporter_sees_their_report_and_the_outcome_without_third_party_data(
    app, client, reported
):
    report, case, _ = reported
    with app.app_context():
        link = status_link(report)
    assert link.startswith("http://docket.test/my/")
    response = client.get(link)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert case.reference in page
    assert "action taken" in page
    assert "Threats, intimidation, harassment or defamation" in page
    assert "the account was suspended for a time" in page
    # The facts describe the affected user, and the subject is theirs: not for the reporter.
    assert FACTS not in page and "acct-9001" not in page


def test_the_affected_user_sees_the_statement_of_reasons_and_how_to_appeal(app, client, reported):
    report, case, decision = reported
    with app.app_context():
        link = affected_user_link(case)
    page = client.get(link).get_data(as_text=True)
    assert case.reference in page and "acct-9001" in page
    for element in (
        "The account was suspended for a time, for 30 days.",
        "EU",
        FACTS,
        "Usage policies, Protect people: threats and harassment.",
        "Threats, intimidation, harassment or defamation",
        "Detected automatically",
        "decided by a person",
        decision.redress,
        f"You can appeal until {(decision.decided_at + timedelta(days=183)):%d %B %Y}",
    ):
        assert element in page
    # Nothing about who reported it.
    assert "Reporter Person" not in page and "reporter@example.org" not in page


def test_a_case_without_a_decision_says_so_to_the_affected_user(app, client, session):
    outcome = submit_public_report(session, report=notice())
    session.commit()
    with app.app_context():
        page = client.get(affected_user_link(outcome.case)).get_data(as_text=True)
    assert "No decision has been made yet." in page


def test_tokens_are_bound_to_their_role_and_record(app, reported):
    report, case, _ = reported
    with app.test_request_context():
        assert read_status_token(status_link(report).rsplit("/", 1)[1]) == LinkHolder(
            AppellantKind.reporter, report.id
        )
        assert read_status_token(affected_user_link(case).rsplit("/", 1)[1]) == LinkHolder(
            AppellantKind.affected_user, case.id
        )


def tampered(token: str) -> str:
    payload, timestamp, signature = token.split(".")
    return f"{payload}.{timestamp}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def forged(app, data) -> str:
    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="docket.status-link").dumps(data)


@pytest.mark.parametrize(
    "make_token",
    [
        lambda app, report: tampered(status_token(LinkHolder(AppellantKind.reporter, report.id))),
        lambda app, report: "not-a-token",
        # Signed with the app's key, but for another purpose (salt): not a status link.
        lambda app, report: URLSafeTimedSerializer(app.config["SECRET_KEY"]).dumps(
            {"role": "reporter", "id": report.id}
        ),
        lambda app, report: forged(app, {"role": "admin", "id": report.id}),
        lambda app, report: forged(app, {"role": "reporter"}),
        lambda app, report: forged(app, {"role": "reporter", "id": report.id + 1000}),
    ],
    ids=["tampered", "garbage", "other-salt", "unknown-role", "no-id", "no-such-report"],
)
def test_a_bad_link_is_refused_with_404(app, client, reported, make_token):
    report, *_ = reported
    with app.app_context():
        token = make_token(app, report)
    response = client.get(f"/my/{token}")
    assert response.status_code == 404
    assert "not valid" in response.get_data(as_text=True) or "nothing to show" in (
        response.get_data(as_text=True)
    )


def test_an_expired_link_is_refused_with_410(app, client, reported):
    report, *_ = reported
    app.config["STATUS_LINK_MAX_AGE_DAYS"] = 2
    with app.app_context():
        link = status_link(report)
    assert client.get(link).status_code == 200
    with time_machine.travel(utcnow() + timedelta(days=1, hours=23), tick=False):
        assert client.get(link).status_code == 200
    with time_machine.travel(utcnow() + timedelta(days=2, hours=1), tick=False):
        response = client.get(link)
        assert response.status_code == 410
        assert "expired" in response.get_data(as_text=True)
        with app.app_context(), pytest.raises(LinkExpired):
            read_status_token(link.rsplit("/", 1)[1])
    with app.app_context(), pytest.raises(LinkInvalid):
        read_status_token(tampered(link.rsplit("/", 1)[1]))


def test_request_logs_never_show_a_token(app, client, reported, caplog):
    report, *_ = reported
    with app.app_context():
        token = status_link(report).rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        # What the development server writes for each request.
        logging.getLogger("werkzeug").info('"%s" %s %s', f"GET /my/{token} HTTP/1.1", 200, 512)
    assert "/my/[redacted]" in caplog.text
    assert token not in caplog.text


def test_the_status_page_keeps_the_referrer_on_this_site(app, client, reported):
    report, *_ = reported
    with app.app_context():
        response = client.get(status_link(report))
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
    ("standard", "dismissed", "resolved", None, None, PublicStatus.no_action),
    ("standard", "appeal_review", "appeal", "warn", None, PublicStatus.under_review),
    ("standard", "upheld", "resolved", "warn", "upheld", PublicStatus.action_taken),
    ("standard", "reversed", "resolved", "warn", "reversed", PublicStatus.no_action),
    ("standard", "closed", "resolved", "warn", None, PublicStatus.closed),
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
