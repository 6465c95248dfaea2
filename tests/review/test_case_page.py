"""The case page: every section, the trail it renders and verifies, who may see it, and exactly the
transitions the engine allows, each as a form asking for what the transition requires."""

import json
import re

import pytest
from sqlmodel import delete, select

from cases.decisions.service import decide_case
from cases.enums import ReportSource
from cases.intake.service import IntakeItem, SubjectRef
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import allowed_transitions, case_workflow
from cases.models import Case, PendingApproval
from cases.review.claims import claim_case
from cases.review.forms import STATEMENT_FIELDS
from cases.trail.erasure import erase_payload
from cases.trail.models import EventPayload
from tests.casework import DECISION_FIELDS, detection, offered_transitions, page_token
from tests.helpers import events, reloaded
from workflows import RequiredField

HOSTILE = "<script>alert('x')</script>"


def user_report(subject: str = "acct-1") -> IntakeItem:
    body = {"category": "protect.threats", "explanation": HOSTILE, "url": "https://x.test/p/1"}
    return IntakeItem(
        source=ReportSource.user_report,
        subject=SubjectRef("account", subject),
        raw_payload=json.dumps(body),
        clause_id="protect.threats",
        location="https://x.test/p/1",
        explanation=HOSTILE,
        reporter_name="Rita Reporter",
        reporter_email="rita@example.org",
        good_faith=True,
    )


def test_the_page_shows_every_section(
    client, session, open_case, walk, staff, signed_in, add_evidence
):
    earlier = walk(open_case(subject="acct-9"), "upheld")  # enforced, appealed, upheld: resolved
    case = open_case(subject="acct-9", item=user_report("acct-9"))
    assert case.id != earlier.id
    open_case(subject="acct-9", item=detection("harassment", subject="acct-9"))
    blob = add_evidence(case, b"screenshot bytes", filename="threat.txt")
    signed_in("reviewer")
    response = client.get(f"/cases/{case.reference}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)

    # Subject and its history: the earlier case and the enforcement decided on it.
    assert "acct-9" in page
    assert earlier.reference in page and "temporary suspension (7 days)" in page
    # Every report with its raw payload escaped in a <pre>, and its SHA-256.
    reloaded(session, case)
    assert page.count('class="raw-payload"') == case.report_count == 2
    assert HOSTILE not in page and "&lt;script&gt;alert(" in page
    assert "matches the payload" in page
    # The moderation chart: a hot bar for the detected category, widths as SVG attributes.
    assert '<div class="bar hot">' in page and '<rect class="score" width="93.0"' in page
    assert '<div class="bar">' in page and '<rect class="score" width="12.0"' in page
    assert "style=" not in page
    # The priority score explained, factor by factor.
    for factor in ("severity", "source", "reporters", "prior enforcement", "age"):
        assert f"<td>{factor}</td>" in page
    assert "1 earlier enforced case" in page
    # Evidence, linked for viewing.
    assert f"/cases/{case.reference}/evidence/{blob.sha256}" in page and "threat.txt" in page
    # The timeline from the trail, verified.
    count = len(events(session, case))
    assert f"chain verified, {count} events" in page
    assert page.count('<li id="event-') == count
    # The workflow diagram with the current state marked.
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="workflow-diagram"' in page
    assert re.search(r'<g class="state current" data-state="new" aria-current="step">', page)
    # Notes and claiming.
    assert 'id="notes"' in page and "Add note" in page
    assert f'action="/queues/cases/{case.reference}/claim"' in page


def test_erased_payloads_show_as_erased_and_the_chain_still_verifies(
    client, session, open_case, signed_in
):
    case = open_case()
    erase_payload(session, case=case, actor="operator:test", reason="GDPR request 12")
    session.commit()
    signed_in("reviewer")
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    assert "payload erased" in page and "Personal data erased: GDPR request 12" in page
    assert "chain verified, 2 events; 1 payloads erased" in page


def test_a_broken_chain_is_shown_as_failed(client, session, open_case, signed_in):
    case = open_case()
    # A payload removed without an `erased` event: what tampering (not erasure) looks like.
    first = events(session, case)[0]
    session.exec(delete(EventPayload).where(EventPayload.event_id == first.id))
    session.commit()
    signed_in("reviewer")
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    assert "verification failed" in page and "chain verified" not in page


@pytest.mark.parametrize("role", ["reviewer", "lead"])
def test_roles_without_clearance_get_404_for_a_restricted_case(
    client, open_case, signed_in, add_evidence, role
):
    case = open_case("sexual/minors")
    assert case.restricted
    blob = add_evidence(case, b"restricted media")
    signed_in(role)
    assert client.get(f"/cases/{case.reference}").status_code == 404
    assert client.get(f"/cases/{case.reference}/evidence/{blob.sha256}").status_code == 404
    assert client.get("/cases/DK-2026-999999").status_code == 404  # the same as no such case


@pytest.mark.parametrize("role", ["child_safety", "admin", "auditor"])
def test_cleared_roles_see_a_restricted_case(client, open_case, signed_in, role):
    case = open_case("sexual/minors")
    signed_in(role)
    response = client.get(f"/cases/{case.reference}")
    assert response.status_code == 200
    offered = offered_transitions(response.get_data(as_text=True))
    assert offered == ([] if role == "auditor" else ["start_assessment"])


def test_the_page_needs_a_staff_sign_in(client, open_case):
    case = open_case()
    response = client.get(f"/cases/{case.reference}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# The viewer holds the claim whenever their role may work cases, so claim guards pass for them.
OFFERED = [
    ("reviewer", "new", ["start_triage"]),
    ("reviewer", "triage", ["request_information", "dismiss", "send_to_enforcement", "escalate"]),
    ("reviewer", "escalated", []),
    ("reviewer", "enforcement", ["dismiss", "escalate", "decide"]),
    ("reviewer", "appeal_review", ["omit_appeal", "uphold", "partially_reverse", "reverse"]),
    ("lead", "escalated", ["send_back_to_triage", "send_back_to_enforcement"]),
    ("lead", "enforcement", ["dismiss", "escalate", "decide"]),
    ("admin", "triage", ["request_information", "dismiss", "send_to_enforcement", "escalate"]),
    ("admin", "enforced", []),
    ("auditor", "triage", []),
    ("auditor", "enforcement", []),
    ("child_safety", "triage", []),
]


@pytest.mark.parametrize(("role", "state", "expected"), OFFERED)
def test_exactly_the_allowed_transitions_are_offered(
    client, session, open_case, walk, signed_in, hand_over, role, state, expected
):
    case = walk(open_case(), state)
    viewer = signed_in(role)
    if role != "auditor":
        hand_over(case, viewer)
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    allowed = [t.name for t in allowed_transitions(session, case=case, actor=Actor.staff(viewer))]
    assert offered_transitions(page) == allowed == expected


def test_guarded_transitions_are_not_offered_without_the_claim(
    client, session, open_case, walk, signed_in
):
    case = walk(open_case(), "triage")
    viewer = signed_in("reviewer")
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    allowed = [t.name for t in allowed_transitions(session, case=case, actor=Actor.staff(viewer))]
    assert offered_transitions(page) == allowed == ["request_information", "escalate"]


def _expected_inputs(transition) -> set[str]:
    names = set()
    for field in transition.requires:
        if field == RequiredField.statement_of_reasons:
            names |= set(STATEMENT_FIELDS)
        elif field == RequiredField.restriction:
            names |= {"restriction", "duration_days"}
        else:
            names.add(field.value)
    return {f"{transition.name}-{name}" for name in names}


@pytest.mark.parametrize("state", ["triage", "enforcement", "appeal_review"])
def test_each_form_asks_for_what_its_transition_requires(
    client, session, open_case, walk, signed_in, hand_over, state
):
    case = walk(open_case(), state)
    hand_over(case, signed_in("lead"))
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    workflow = case_workflow(session, case)
    offered = offered_transitions(page)
    assert offered
    for name in offered:
        transition = next(t for t in workflow.transitions if t.name == name)
        block = page.split(f'id="transition-{name}"', 1)[1].split("</details>", 1)[0]
        inputs = set(re.findall(r'name="([a-z_]+-[a-z_]+)"', block)) - {f"{name}-csrf_token"}
        assert inputs == _expected_inputs(transition), name


def test_claim_and_release_from_the_page(client, session, open_case, signed_in):
    case = open_case()
    user = signed_in("reviewer")
    token = page_token(client, case)
    response = client.post(f"/queues/cases/{case.reference}/claim", data={"csrf_token": token})
    assert response.status_code == 303
    assert reloaded(session, case).assignee_id == user.id
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    assert "You hold the claim" in page and user.email in page
    client.post(f"/queues/cases/{case.reference}/release", data={"csrf_token": token})
    assert reloaded(session, case).assignee_id is None
    assert [e.type for e in events(session, case)][-2:] == ["claimed", "released"]


def test_a_claim_held_by_someone_else_is_refused_with_the_reason(
    client, session, open_case, staff, signed_in
):
    case = open_case()
    claim_case(session, case=case, actor=Actor.staff(staff("reviewer", "holder")))
    session.commit()
    signed_in("reviewer")
    token = page_token(client, case)
    response = client.post(
        f"/queues/cases/{case.reference}/claim", data={"csrf_token": token}, follow_redirects=True
    )
    assert "already claimed by someone else" in response.get_data(as_text=True)


def test_a_note_becomes_a_note_event(client, session, open_case, signed_in):
    case = open_case()
    user = signed_in("reviewer")
    token = page_token(client, case)
    response = client.post(
        f"/cases/{case.reference}/notes",
        data={"note-csrf_token": token, "note-text": "Looks like a coordinated campaign."},
    )
    assert response.status_code == 303
    note = events(session, case)[-1]
    assert (note.type, note.actor) == ("note", f"user:{user.id}")
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    assert "Looks like a coordinated campaign." in page


def test_an_empty_note_shows_the_error_next_to_the_field(client, session, open_case, signed_in):
    case = open_case()
    signed_in("reviewer")
    before = len(events(session, case))
    response = client.post(
        f"/cases/{case.reference}/notes",
        data={"note-csrf_token": page_token(client, case), "note-text": "   "},
    )
    assert response.status_code == 422
    assert re.search(r'id="note-text-error">[^<]*required', response.get_data(as_text=True))
    assert len(events(session, case)) == before


def test_auditors_change_nothing(client, session, open_case, signed_in):
    case = open_case()
    signed_in("auditor")
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    assert "Add note" not in page and "/claim" not in page
    token = page_token(client, case)
    before = len(events(session, case))
    for url, data in (
        (f"/cases/{case.reference}/notes", {"note-csrf_token": token, "note-text": "auditor"}),
        (f"/queues/cases/{case.reference}/claim", {"csrf_token": token}),
        (
            f"/cases/{case.reference}/transitions",
            {"csrf_token": token, "transition": "start_triage"},
        ),
    ):
        response = client.post(url, data=data)
        assert response.status_code in (303, 403), url
    assert len(events(session, case)) == before
    assert reloaded(session, case).state == "new"


def test_a_refused_transition_is_flashed_with_its_reason(client, session, open_case, signed_in):
    case = open_case()
    signed_in("reviewer")
    response = client.post(
        f"/cases/{case.reference}/transitions",
        data={"csrf_token": page_token(client, case), "transition": "decide"},
        follow_redirects=True,
    )
    assert "Decide and enforce" in response.get_data(as_text=True)
    assert "is not available to you on this case now" in response.get_data(as_text=True)
    assert reloaded(session, case).state == "new"


def test_a_simple_transition_through_its_form(client, session, open_case, signed_in):
    case = open_case()
    user = signed_in("reviewer")
    response = client.post(
        f"/cases/{case.reference}/transitions",
        data={"start_triage-csrf_token": page_token(client, case), "transition": "start_triage"},
    )
    assert response.status_code == 303
    assert reloaded(session, case).state == "triage"
    last = events(session, case)[-1]
    assert (last.type, last.actor) == ("transition", f"user:{user.id}")


def test_a_second_approval_is_requested_then_approved_by_another(
    client, session, open_case, signed_in, hand_over
):
    case = open_case("sexual/minors")
    first = signed_in("child_safety", "first")
    token = page_token(client, case)
    client.post(f"/queues/cases/{case.reference}/claim", data={"csrf_token": token})
    client.post(
        f"/cases/{case.reference}/transitions",
        data={"csrf_token": token, "transition": "start_assessment"},
    )
    request = {
        "csrf_token": token,
        "transition": "decide_no_report",
        "decide_no_report-no_report_reason": "An adult in a costume; no minor involved.",
    }
    response = client.post(
        f"/cases/{case.reference}/transitions", data=request, follow_redirects=True
    )
    assert "needs the approval of a second person" in response.get_data(as_text=True)
    assert session.exec(select(PendingApproval)).one().requested_by_id == first.id
    assert reloaded(session, case).state == "assessment"

    hand_over(case, signed_in("child_safety", "second"))
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    assert "Awaiting a second approval" in page and first.email in page
    assert "An adult in a costume; no minor involved." in page  # the request pre-fills the form
    response = client.post(
        f"/cases/{case.reference}/transitions",
        data={**request, "csrf_token": page_token(client, case)},
    )
    assert response.status_code == 303
    assert reloaded(session, case).state == "no_report"


def test_decisions_are_listed_with_their_statement_of_reasons(
    client, session, open_case, walk, staff, signed_in
):
    case = walk(open_case(), "enforcement")
    worker = Actor.staff(staff("admin", "worker"))
    decide_case(session, case=case, transition="decide", actor=worker, fields=DECISION_FIELDS)
    session.commit()
    assert session.get(Case, case.id).state == "enforced"
    signed_in("reviewer")
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    assert 'id="decisions"' in page and "Repeated threats against another user" in page
