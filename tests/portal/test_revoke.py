"""Withdrawing a private link from the case page: leads and admins only, with a reason, on the
trail; a withdrawn link answers 410 and says how to get help."""

import pytest
from flask import render_template
from sqlmodel import select

from cases.enums import AppellantKind, EventType
from cases.models import StatusLink
from cases.portal.links import issue_link, status_token
from cases.portal.service import link_rows
from tests.helpers import count, csrf_token, event_payloads, events, fresh


@pytest.fixture
def linked(session, reported):
    """A reported case with the affected user's and the reporter's links: (case, their link,
    the reporter's link)."""
    report, case = reported()
    theirs = issue_link(session, case=case, holder=AppellantKind.affected_user)
    reporters = issue_link(session, case=case, holder=AppellantKind.reporter, report=report)
    session.commit()
    return case, theirs, reporters


def revoke(client, case, link_id: int, *, reason="Forwarded to a third party by mistake."):
    data = {"reason": reason, "csrf_token": csrf_token(client, "/report")}
    return client.post(f"/cases/{case.reference}/links/{link_id}/revoke", data=data)


@pytest.mark.parametrize("role", ["lead", "admin"])
def test_a_lead_withdraws_a_link_and_it_answers_410(client, session, signed_in, linked, role):
    case, theirs, reporters = linked
    lead = signed_in(role)
    response = revoke(client, case, theirs.id)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/cases/{case.reference}#links")

    link = fresh(session).get(StatusLink, theirs.id)
    assert link.revoked_at is not None and link.revoked_by_id == lead.id
    ((header, payload),) = event_payloads(session, case.id, EventType.link_revoked)
    assert header["actor"] == f"user:{lead.id}"
    assert payload == {
        "link_id": theirs.id,
        "holder": "affected_user",
        "reason": "Forwarded to a third party by mistake.",
    }
    gone = client.get(f"/my/{status_token(theirs)}")
    assert gone.status_code == 410
    text = gone.get_data(as_text=True)
    assert "This link was withdrawn" in text and "we will send you a new one" in text
    # The reporter's link is another link, and still works.
    assert client.get(f"/my/{status_token(reporters)}").status_code == 200
    # Withdrawing it again changes nothing.
    assert revoke(client, case, theirs.id).status_code == 303
    assert len(event_payloads(session, case.id, EventType.link_revoked)) == 1


@pytest.mark.parametrize("role", ["reviewer", "auditor", "child_safety"])
def test_other_roles_may_not_withdraw_a_link(client, session, signed_in, linked, role):
    case, theirs, _ = linked
    signed_in(role)
    assert revoke(client, case, theirs.id).status_code == 403
    assert fresh(session).get(StatusLink, theirs.id).revoked_at is None
    assert events(session, case, EventType.link_revoked) == []


def test_anyone_signed_out_is_sent_to_sign_in(client, session, linked):
    case, theirs, _ = linked
    response = revoke(client, case, theirs.id)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert fresh(session).get(StatusLink, theirs.id).revoked_at is None


def test_a_link_holder_gets_nothing_from_the_staff_route(client, session, linked, reported):
    case, theirs, reporters = linked
    # The holder of the other case's link opens their page, then tries to withdraw a link.
    other_report, other = reported(account_id="acct-other", reporter_email="o@example.org")
    holder = issue_link(session, case=other, holder=AppellantKind.reporter, report=other_report)
    session.commit()
    assert client.get(f"/my/{status_token(holder)}").status_code == 200
    token = csrf_token(client, "/report")
    for target in (reporters, holder):
        response = client.post(
            f"/cases/{case.reference}/links/{target.id}/revoke",
            data={"reason": "mine now", "csrf_token": token},
        )
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert count(fresh(session), StatusLink) == 3
    assert session.exec(select(StatusLink).where(StatusLink.revoked_at.is_not(None))).all() == []


def test_a_link_of_another_case_is_not_found_under_this_one(
    client, session, signed_in, linked, reported
):
    case, theirs, _ = linked
    _, other = reported(account_id="acct-2", reporter_email="b@example.org")
    signed_in("lead")
    assert revoke(client, other, theirs.id).status_code == 404
    assert revoke(client, case, theirs.id + 99).status_code == 404
    assert fresh(session).get(StatusLink, theirs.id).revoked_at is None


def test_a_restricted_case_is_invisible_to_a_lead(client, session, signed_in, reported):
    report, case = reported(category="minors.grooming", reporter_name=None, reporter_email=None)
    assert case.restricted
    link = issue_link(session, case=case, holder=AppellantKind.reporter, report=report)
    session.commit()
    signed_in("lead")
    assert revoke(client, case, link.id).status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/report")})
    signed_in("admin")
    assert revoke(client, case, link.id).status_code == 303


@pytest.mark.parametrize(
    ("reason", "message"),
    [("", "Say why the link is withdrawn."), ("x" * 501, "at most 500"), ("a\x00b", "control")],
    ids=["blank", "long", "nul"],
)
def test_a_withdrawal_needs_a_reason(client, session, signed_in, linked, reason, message):
    case, theirs, _ = linked
    signed_in("lead")
    before = count(fresh(session), StatusLink), len(events(session, case))
    response = revoke(client, case, theirs.id, reason=reason)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert (count(fresh(session), StatusLink), len(events(session, case))) == before
    assert fresh(session).get(StatusLink, theirs.id).revoked_at is None


def test_a_withdrawal_without_its_csrf_token_is_refused(client, session, signed_in, linked):
    case, theirs, _ = linked
    signed_in("lead")
    response = client.post(
        f"/cases/{case.reference}/links/{theirs.id}/revoke", data={"reason": "leaked"}
    )
    assert response.status_code == 400
    assert fresh(session).get(StatusLink, theirs.id).revoked_at is None


def test_the_case_page_lists_links_without_their_tokens(app, client, session, staff, linked):
    case, theirs, reporters = linked
    lead, reviewer = staff("lead"), staff("reviewer")
    rows = link_rows(session, case=case, viewer=lead)
    assert [row.link.id for row in rows] == sorted([reporters.id, theirs.id], reverse=True)
    assert {row.link.id: row.holder for row in rows} == {
        reporters.id: f"reporter (report {reporters.report_id})",
        theirs.id: "affected user",
    }
    assert all(row.state == "active" and row.may_revoke for row in rows)
    assert not any(row.may_revoke for row in link_rows(session, case=case, viewer=reviewer))
    with app.test_request_context():
        html = render_template("portal/_case_links.html", links=rows, case=case)
    assert f"/cases/{case.reference}/links/{theirs.id}/revoke" in html
    assert status_token(theirs) not in html
    assert status_token(reporters) not in html
