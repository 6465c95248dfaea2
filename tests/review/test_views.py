"""The queue pages, claims, bulk actions and search over HTTP, as a browser drives them."""

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlmodel import select

from cases.core.sqltypes import utcnow
from cases.enums import EventType, Role
from cases.models import Case
from cases.trail.models import CaseEvent
from tests.factories import put_case
from tests.helpers import csrf_token

NEXT_LINK = re.compile(r'<a href="([^"]+)" rel="next">')
CASE_LINK = re.compile(r'<th scope="row"><a href="/cases/([^"]+)">')


def listed(response) -> list[str]:
    return CASE_LINK.findall(response.get_data(as_text=True))


def reload(session, case: Case) -> Case:
    """The case as committed now: a new read transaction (SQLite's snapshot is per transaction),
    and no copy kept from before."""
    session.rollback()
    session.expire_all()
    return session.get(Case, case.id)


def test_queue_pages_need_a_signed_in_staff_member(client):
    for url in ("/queues", "/queues/triage", "/search?q=x"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_overview_shows_each_visible_queue_with_its_counts(client, session, signed_in):
    put_case(session, state="new")
    put_case(session, state="triage", sla_due_at=utcnow() - timedelta(hours=1))
    put_case(session, state="enforcement")
    put_case(session, workflow="child_safety", state="new")
    session.commit()
    signed_in(Role.reviewer)

    page = client.get("/queues").get_data(as_text=True)

    assert 'href="/queues/triage"' in page and 'href="/queues/appeals"' in page
    assert "/queues/child_safety" not in page
    start, end = page.index('href="/queues/triage"'), page.index('href="/queues/enforcement"')
    triage_row = page[start:end]
    assert re.findall(r'<td class="num">(?:<span[^>]*>)?([\d,]+)', triage_row) == ["2", "2", "1"]
    assert "Claim next" in triage_row


def test_the_overview_caps_large_counts(client, session, signed_in, monkeypatch):
    monkeypatch.setattr("cases.review.queues.COUNT_CAP", 2)
    monkeypatch.setattr("cases.review.queues.DETAIL_CAP", 1)
    for _ in range(3):
        put_case(session)
    session.commit()
    signed_in(Role.reviewer)
    page = client.get("/queues").get_data(as_text=True)
    assert '<td class="num">2+</td>' in page and '<td class="num">1+</td>' in page


def test_the_child_safety_queue_is_a_404_for_a_reviewer(client, session, signed_in):
    case = put_case(session, workflow="child_safety", state="new")
    session.commit()
    signed_in(Role.reviewer)
    assert client.get("/queues/child_safety").status_code == 404
    assert client.get("/queues/no_such_queue").status_code == 404
    token = csrf_token(client, "/queues")
    response = client.post("/queues/child_safety/claim-next", data={"csrf_token": token})
    assert response.status_code == 404
    response = client.post(f"/queues/cases/{case.reference}/claim", data={"csrf_token": token})
    assert response.status_code == 404
    assert reload(session, case).assignee_id is None


def test_a_child_safety_specialist_works_the_child_safety_queue(client, session, signed_in):
    case = put_case(session, workflow="child_safety", state="new")
    session.commit()
    specialist = signed_in(Role.child_safety)
    assert "/queues/child_safety" in client.get("/queues").get_data(as_text=True)
    assert listed(client.get("/queues/child_safety")) == [case.reference]
    token = csrf_token(client, "/queues/child_safety")
    response = client.post(f"/queues/cases/{case.reference}/claim", data={"csrf_token": token})
    assert response.status_code == 303
    assert reload(session, case).assignee_id == specialist.id


def test_filters_and_sort_come_from_the_query_string(client, session, signed_in):
    urgent = put_case(session, band="p1", priority=600)
    put_case(session, band="p3", priority=250)
    soon = put_case(session, band="p3", priority=200, sla_due_at=utcnow() + timedelta(hours=1))
    session.commit()
    signed_in(Role.reviewer)
    assert listed(client.get("/queues/triage?band=p1")) == [urgent.reference]
    assert listed(client.get("/queues/triage?sort=sla"))[0] == soon.reference
    assert listed(client.get("/queues/triage?sla=due_soon&assignee=unassigned")) == [soon.reference]


@pytest.mark.parametrize(
    "query", ["band=p9", "sort=random", "sla=late", "assignee=someone", "after=garbage"]
)
def test_a_bad_filter_or_page_link_is_a_400_with_the_reason_shown(
    client, session, signed_in, query
):
    put_case(session)
    session.commit()
    signed_in(Role.reviewer)
    response = client.get(f"/queues/triage?{query}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert listed(response) == []
    assert 'class="error"' in page or "damaged" in page


@pytest.fixture
def config_overrides():
    return {"QUEUE_PAGE_SIZE": 3}


def test_the_pager_follows_next_links_through_every_case_once(client, session, signed_in):
    cases = [put_case(session, priority=[500, 400, 400][n % 3]) for n in range(8)]
    session.commit()
    signed_in(Role.reviewer)
    seen, url, pages = [], "/queues/triage?band=p2", 0
    while url:
        page = client.get(url)
        assert page.status_code == 200
        seen += listed(page)
        pages += 1
        link = NEXT_LINK.search(page.get_data(as_text=True))
        url = unescape(link.group(1)) if link else None
        if url:
            assert "band=p2" in url and "after=" in url and "offset" not in url
    expected = sorted(cases, key=lambda c: (-c.priority, c.id))
    assert seen == [c.reference for c in expected]
    assert pages == 3


def test_claim_next_claims_the_top_case_and_opens_it(client, session, signed_in):
    put_case(session, priority=100)
    top = put_case(session, priority=900)
    session.commit()
    reviewer = signed_in(Role.reviewer)
    token = csrf_token(client, "/queues/triage")

    response = client.post("/queues/triage/claim-next", data={"csrf_token": token})

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/cases/{top.reference}")
    assert reload(session, top).assignee_id == reviewer.id
    # Nothing left unclaimed above the other case: the next claim takes it, then none is left.
    client.post("/queues/triage/claim-next", data={"csrf_token": token})
    response = client.post("/queues/triage/claim-next", data={"csrf_token": token})
    assert response.headers["Location"].endswith("/queues/triage")
    assert "No unclaimed case" in client.get("/queues/triage").get_data(as_text=True)


def test_claim_and_release_from_the_queue_come_back_to_it(client, session, signed_in):
    case = put_case(session)
    session.commit()
    reviewer = signed_in(Role.reviewer)
    token = csrf_token(client, "/queues/triage")
    back = "/queues/triage?band=p2"

    response = client.post(
        f"/queues/cases/{case.reference}/claim", data={"csrf_token": token, "next": back}
    )
    assert response.status_code == 303 and response.headers["Location"] == back
    assert reload(session, case).assignee_id == reviewer.id

    response = client.post(
        f"/queues/cases/{case.reference}/release",
        data={"csrf_token": token, "next": "https://evil.example/phish"},
    )
    # Never redirected off-site: an outside `next` falls back to the case page.
    assert response.headers["Location"] == f"/cases/{case.reference}"
    assert reload(session, case).assignee_id is None
    types = session.exec(select(CaseEvent.type).where(CaseEvent.case_id == case.id)).all()
    assert types == [EventType.claimed, EventType.released]


def test_a_claim_held_by_someone_else_is_refused_with_a_message(client, session, signed_in, staff):
    case = put_case(session, assignee=staff(Role.lead))
    session.commit()
    signed_in(Role.reviewer)
    token = csrf_token(client, "/queues/triage")
    response = client.post(
        f"/queues/cases/{case.reference}/claim",
        data={"csrf_token": token, "next": "/queues/triage"},
    )
    assert response.status_code == 303
    assert "already claimed" in client.get("/queues/triage").get_data(as_text=True)
    assert reload(session, case).assignee_id == staff(Role.lead).id


@pytest.mark.parametrize(
    "role, status", [(Role.reviewer, 403), (Role.auditor, 403), (Role.lead, 303), (Role.admin, 303)]
)
def test_only_leads_and_admins_reassign(client, session, signed_in, staff, role, status):
    holder, target = staff(Role.reviewer), staff(Role.child_safety)
    case = put_case(session, assignee=holder)
    session.commit()
    signed_in(role)
    url = f"/queues/cases/{case.reference}/reassign"
    page = client.get(url)
    assert page.status_code == (200 if status == 303 else 403)
    token = csrf_token(client, "/queues")
    response = client.post(url, data={"csrf_token": token, "assignee": target.id})
    assert response.status_code == status
    expected = target.id if status == 303 else holder.id
    assert reload(session, case).assignee_id == expected


def test_reassigning_to_someone_who_may_not_work_the_case_is_a_form_error(
    client, session, signed_in, staff
):
    case = put_case(session)
    session.commit()
    signed_in(Role.lead)
    url = f"/queues/cases/{case.reference}/reassign"
    page = client.get(url).get_data(as_text=True)
    assert staff(Role.auditor).email not in page
    token = csrf_token(client, url)
    response = client.post(url, data={"csrf_token": token, "assignee": staff(Role.auditor).id})
    assert response.status_code == 422
    assert 'class="error"' in response.get_data(as_text=True)
    assert reload(session, case).assignee_id is None


def test_an_auditor_reads_queues_but_gets_no_claim_buttons_and_may_not_claim(
    client, session, signed_in
):
    case = put_case(session)
    session.commit()
    signed_in(Role.auditor)
    page = client.get("/queues/triage").get_data(as_text=True)
    assert case.reference in page and "Claim" not in page
    token = csrf_token(client, "/queues")
    response = client.post(f"/queues/cases/{case.reference}/claim", data={"csrf_token": token})
    assert response.status_code == 403
    response = client.post("/queues/triage/claim-next", data={"csrf_token": token})
    assert response.status_code == 403


def test_bulk_action_shows_a_result_per_case(client, session, signed_in):
    reviewer = signed_in(Role.reviewer)
    mine = put_case(session, state="triage", assignee=reviewer)
    unclaimed = put_case(session, state="triage")
    session.commit()
    refs = [mine.reference, unclaimed.reference]

    form = client.get(f"/queues/triage/bulk?case={refs[0]}&case={refs[1]}")
    page = form.get_data(as_text=True)
    assert form.status_code == 200
    assert "Dismiss: no violation (allowed for 1)" in page
    assert "Escalate to a lead (allowed for 2)" in page
    assert "Decide and enforce" not in page

    token = csrf_token(client, f"/queues/triage/bulk?case={refs[0]}")
    response = client.post(
        "/queues/triage/bulk",
        data={"csrf_token": token, "case": refs, "transition": "dismiss", "note": "Spam."},
    )
    assert response.status_code == 200
    results = response.get_data(as_text=True)
    assert "1 of 2 cases changed; 1 refused." in results
    assert re.search(rf"{mine.reference}</a></th>\s*<td><span class=\"badge ok\">done", results)
    assert re.search(
        rf"{unclaimed.reference}</a></th>\s*<td><span class=\"badge fail\">refused</span></td>\s*"
        r"<td>[^<]*claim the case first",
        results,
    )
    assert reload(session, mine).state == "dismissed"
    assert reload(session, unclaimed).state == "triage"


def test_a_bulk_action_missing_its_note_is_refused_with_the_error_at_the_field(
    client, session, signed_in
):
    reviewer = signed_in(Role.reviewer)
    case = put_case(session, state="triage", assignee=reviewer)
    session.commit()
    token = csrf_token(client, f"/queues/triage/bulk?case={case.reference}")
    response = client.post(
        "/queues/triage/bulk",
        data={"csrf_token": token, "case": case.reference, "transition": "dismiss", "note": " "},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="note-error"' in page and "This action needs a note." in page
    assert reload(session, case).state == "triage"


def test_search_finds_by_reference_subject_and_words_but_never_a_hidden_case(
    client, session, signed_in
):
    open_case = put_case(session, subject="acct-55", explanation="Spam about crypto giveaways.")
    hidden = put_case(
        session, workflow="child_safety", subject="acct-66", explanation="crypto grooming"
    )
    session.commit()
    signed_in(Role.reviewer)
    for query in (open_case.reference, "acct-55", "crypto giveaways"):
        response = client.get("/search", query_string={"q": query})
        assert response.status_code == 200
        assert listed(response) == [open_case.reference]
    for query in (hidden.reference, "acct-66", "grooming"):
        response = client.get("/search", query_string={"q": query})
        assert listed(response) == [] and "No case found." in response.get_data(as_text=True)
    assert listed(client.get("/search?q=crypto")) == [open_case.reference]
    assert client.get(f"/search?q={'x' * 201}").status_code == 400


def _post_endpoints(case: Case, user_id: int) -> list[tuple[str, dict]]:
    return [
        ("/queues/triage/claim-next", {}),
        (f"/queues/cases/{case.reference}/claim", {}),
        (f"/queues/cases/{case.reference}/release", {}),
        (f"/queues/cases/{case.reference}/reassign", {"assignee": user_id}),
        ("/queues/triage/bulk", {"case": case.reference, "transition": "escalate", "note": "x"}),
    ]


@pytest.mark.parametrize(
    "index", range(5), ids=["claim-next", "claim", "release", "reassign", "bulk"]
)
def test_every_form_rejects_a_missing_csrf_token(client, session, signed_in, staff, index):
    admin = signed_in(Role.admin)
    case = put_case(session, state="triage", assignee=staff(Role.reviewer))
    session.commit()
    url, data = _post_endpoints(case, admin.id)[index]
    response = client.post(url, data=data)
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    after = reload(session, case)
    assert (after.state, after.assignee_id) == ("triage", staff(Role.reviewer).id)
    assert session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id)).all() == []
