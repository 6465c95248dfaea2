"""/inquiries: who may list, record, read, generate and answer; the form's errors beside their
fields; hostile values; the downloads and the dossiers listed from the trail."""

import hashlib
import json
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from cases.enums import PROVIDER_INQUIRY_WORKFLOW, EventType, Role
from cases.inquiries.dossier import last_day
from cases.models import Case, ProviderInquiry
from cases.trail.models import CaseEvent
from tests.factories import make_api_key
from tests.helpers import count, csrf_token, event_payloads, fresh, reloaded
from tests.inquiries.conftest import PERIOD_END, PERIOD_START, inquiry_form

INDEX, NEW = "/inquiries", "/inquiries/new"
READERS = {Role.admin, Role.lead, Role.auditor}
WRITERS = {Role.admin, Role.lead}


def written(session) -> tuple[int, int, int]:
    fresh(session)
    return count(session, ProviderInquiry), count(session, Case), count(session, CaseEvent)


def token(client) -> str:
    return csrf_token(client, "/")


def post_form(client, **changes):
    return client.post(NEW, data={**inquiry_form(**changes), "csrf_token": token(client)})


def test_anonymous_visitors_are_sent_to_sign_in(client, session, inquiry):
    found = inquiry()
    for url in (INDEX, NEW, f"{INDEX}/{found.id}"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.location
    for url in (NEW, f"{INDEX}/{found.id}/dossier", f"{INDEX}/{found.id}/answer"):
        assert client.post(url, data={"format": "json"}).status_code in (302, 400)
    assert written(session) == (1, 1, 1)


def test_an_api_key_gets_nothing(client, session, inquiry):
    found = inquiry()
    _key, secret = make_api_key(session)
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    for url in (INDEX, f"{INDEX}/{found.id}"):
        response = client.get(url, headers=headers)
        assert response.status_code == 302 and "/login" in response.location
    response = client.post(f"{INDEX}/{found.id}/dossier", headers=headers, data={"format": "json"})
    assert response.status_code in (302, 400) and b"checkpoint" not in response.get_data()
    assert written(session) == (1, 1, 1)


@pytest.mark.parametrize("role", list(Role))
def test_who_reaches_the_list_and_the_page(client, session, inquiry, signed_in, role):
    found = inquiry()
    signed_in(role)
    listing = client.get(INDEX)
    page = client.get(f"{INDEX}/{found.id}")
    expected = 200 if role in READERS else 403
    assert (listing.status_code, page.status_code) == (expected, expected)
    if role in READERS:
        text = listing.get_data(as_text=True)
        assert "OAI-TS-2026-0042" in text and "on track" in text
        assert ("Record an inquiry" in text) is (role in WRITERS)
        detail = page.get_data(as_text=True)
        case = session.get(Case, found.case_id)
        assert case.reference in detail and "protect.threats" in detail
        assert ("Generate the dossier" in detail) is (role in WRITERS)
        assert listing.headers["Cache-Control"] == "no-store"
    nav = client.get("/").get_data(as_text=True)
    assert (f'href="{INDEX}"' in nav) is (role in READERS)


@pytest.mark.parametrize("role", list(Role))
def test_who_may_record_an_inquiry(client, session, signed_in, role):
    signed_in(role)
    assert client.get(NEW).status_code == (200 if role in WRITERS else 403)
    response = post_form(client)
    if role in WRITERS:
        assert response.status_code == 303
        found = fresh(session).exec(select(ProviderInquiry)).one()
        assert response.location.endswith(f"{INDEX}/{found.id}")
        assert found.clauses == ["protect.threats", "empower.high_stakes_automation"]
        assert (found.period_start, found.period_end) == (PERIOD_START, PERIOD_END)
        assert found.deadline_at.tzinfo is not None and found.deadline_at.hour == 17
        case = session.get(Case, found.case_id)
        assert case.workflow_name == PROVIDER_INQUIRY_WORKFLOW
        assert case.sla_due_at == found.deadline_at
        assert event_payloads(session, case.id, EventType.inquiry_recorded)
        assert "recorded" in client.get(response.location).get_data(as_text=True)
    else:
        assert response.status_code == 403
        assert written(session) == (0, 0, 0)


def test_the_period_is_named_by_its_days_both_included(client, session, signed_in):
    signed_in("lead")
    form = client.get(NEW).get_data(as_text=True)
    assert '<label for="period_end">Period to (included)</label>' in form
    response = post_form(client, period_start="2026-03-31", period_end="2026-03-31")
    assert response.status_code == 303
    found = fresh(session).exec(select(ProviderInquiry)).one()
    one_day = (datetime(2026, 3, 31, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert (found.period_start, found.period_end) == one_day
    page = client.get(response.location).get_data(as_text=True)
    assert "2026-03-31 to 2026-03-31, both included" in page


def test_no_clause_chosen_is_the_whole_taxonomy(client, session, signed_in):
    signed_in("lead")
    data = {**inquiry_form(), "csrf_token": token(client)}
    del data["clauses"]
    assert client.post(NEW, data=data).status_code == 303
    assert fresh(session).exec(select(ProviderInquiry)).one().clauses == []
    assert "The whole taxonomy" in client.get(f"{INDEX}/1").get_data(as_text=True)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"provider_reference": ""}, "provider_reference", "Give the reference"),
        ({"provider_reference": "x" * 121}, "provider_reference", "120 characters"),
        ({"provider_reference": "ref\x00"}, "provider_reference", "control characters"),
        ({"received_at": "yesterday"}, "received_at", "Not a valid datetime"),
        ({"deadline_at": "2026-02-30T10:00"}, "deadline_at", "Not a valid datetime"),
        ({"deadline_at": ""}, "deadline_at", "deadline"),
        (
            {"received_at": "2026-05-02T10:00", "deadline_at": "2026-05-01T10:00"},
            "deadline_at",
            "after the inquiry was received",
        ),
        ({"period_start": "2026-13-01"}, "period_start", "Not a valid date"),
        ({"period_start": "0001-01-01"}, "period_start", "Give a day from"),
        (
            {"period_start": "2026-04-01", "period_end": "2026-03-01"},
            "period_end",
            "The last day comes before the first.",
        ),
        ({"period_start": "2026-03-02", "period_end": "2026-03-01"}, "period_end", "comes before"),
        ({"period_end": "2101-01-01"}, "period_end", "Give a day from 2000-01-01 to 2100-12-31."),
        ({"period_end": ""}, "period_end", "Give the last day of the period"),
        ({"clauses": ["protect.threats", "protect.nonsense"]}, "clauses", "from the list"),
        ({"clauses": ["<script>alert(1)</script>"]}, "clauses", "from the list"),
        ({"summary": "x" * 10_001}, "summary", "10000 characters"),
        ({"summary": "bell\x07"}, "summary", "control characters"),
        ({"received_at": ["2026-05-01T10:00", "2026-05-02T10:00"]}, "received_at", "Not a valid"),
    ],
)
def test_hostile_values_are_refused_beside_their_field(
    client, session, signed_in, changes, field, message
):
    signed_in("lead")
    response = post_form(client, **changes)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    error = text.split(f'id="{field}-error">', 1)
    assert len(error) == 2, f"no error beside {field}"
    assert message in error[1].split("</p>", 1)[0]
    assert "<script>alert(1)</script>" not in text
    assert written(session) == (0, 0, 0)


def test_invalid_utf8_and_a_missing_token_are_4xx(client, session, signed_in):
    signed_in("lead")
    body = b"provider_reference=%FF%FE&csrf_token=" + token(client).encode()
    response = client.post(NEW, data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    response = client.post(NEW, data=inquiry_form())
    assert response.status_code == 400 and "security token" in response.get_data(as_text=True)
    assert written(session) == (0, 0, 0)


def test_a_huge_body_is_refused(client, session, signed_in):
    signed_in("lead")
    response = post_form(client, summary="x" * (20 << 20))
    assert response.status_code == 413
    assert written(session) == (0, 0, 0)


def test_a_missing_inquiry_is_404(client, signed_in):
    signed_in("lead")
    assert client.get(f"{INDEX}/999").status_code == 404
    assert client.get(f"{INDEX}/abc").status_code == 404
    data = {"format": "json", "csrf_token": token(client)}
    assert client.post(f"{INDEX}/999/dossier", data=data).status_code == 404


@pytest.mark.parametrize("role", list(Role))
def test_who_may_generate_a_dossier(client, session, inquiry, signed_in, role):
    found = inquiry()
    signed_in(role)
    before = written(session)
    response = client.post(
        f"{INDEX}/{found.id}/dossier", data={"format": "json", "csrf_token": token(client)}
    )
    if role in WRITERS:
        assert response.status_code == 200
        document = json.loads(response.get_data())
        assert document["inquiry"]["id"] == found.id
        assert [c["id"] for c in document["clauses"]] == ["protect.threats"]
    else:
        assert response.status_code == 403
        assert written(session) == before


@pytest.mark.parametrize("format", ["json", "html", "pdf"])
def test_the_download_is_recorded_on_the_trail(client, session, inquiry, signed_in, format):
    found = inquiry(clauses=["protect.threats"])
    user = signed_in("lead")
    response = client.post(
        f"{INDEX}/{found.id}/dossier", data={"format": format, "csrf_token": token(client)}
    )
    assert response.status_code == 200
    body = response.get_data()
    reference = session.get(Case, found.case_id).reference
    period = f"{PERIOD_START.date().isoformat()}-{last_day(PERIOD_END)}"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="dossier-{reference}-{period}.{format}"'
    )
    assert {"json": b"{", "html": b"<!doctype html>", "pdf": b"%PDF"}[format] in body[:20]
    [(header, payload)] = event_payloads(session, found.case_id, EventType.dossier_generated)
    assert header["actor"] == f"user:{user.id}"
    assert payload["sha256"] == hashlib.sha256(body).hexdigest()
    assert payload["format"] == format and payload["clauses"] == ["protect.threats"]
    page = client.get(f"{INDEX}/{found.id}").get_data(as_text=True)
    assert payload["sha256"] in page and user.email in page


@pytest.mark.parametrize("value", ["docx", "", "../../etc/passwd", "<b>pdf</b>"])
def test_an_unknown_format_is_400(client, session, inquiry, signed_in, value):
    found = inquiry()
    signed_in("admin")
    before = written(session)
    response = client.post(
        f"{INDEX}/{found.id}/dossier", data={"format": value, "csrf_token": token(client)}
    )
    assert response.status_code == 400 and "Choose PDF, HTML or JSON" in response.get_data(
        as_text=True
    )
    assert written(session) == before


@pytest.mark.parametrize("role", list(Role))
def test_who_may_record_the_answer(client, session, inquiry, signed_in, role):
    found = inquiry()
    user = signed_in(role)
    url = f"{INDEX}/{found.id}/answer"
    if role not in WRITERS:
        before = written(session)
        response = client.post(url, data={"note": "Sent.", "csrf_token": token(client)})
        assert response.status_code == 403 and written(session) == before
        return
    # Refused until a dossier exists, with the reason beside the note.
    response = client.post(url, data={"note": "Sent.", "csrf_token": token(client)})
    assert response.status_code == 409 and "generate the dossier first" in response.get_data(
        as_text=True
    )
    assert reloaded(session, session.get(Case, found.case_id)).resolved_at is None
    client.post(f"{INDEX}/{found.id}/dossier", data={"format": "json", "csrf_token": token(client)})
    assert "Record as answered" in client.get(f"{INDEX}/{found.id}").get_data(as_text=True)
    empty = client.post(url, data={"note": "  ", "csrf_token": token(client)})
    assert empty.status_code == 400
    response = client.post(url, data={"note": "Emailed the PDF.", "csrf_token": token(client)})
    assert response.status_code == 303
    case = reloaded(session, session.get(Case, found.case_id))
    assert case.resolved_at is not None
    assert case.state == "answered"
    [(header, payload)] = [
        e
        for e in event_payloads(session, case.id, EventType.transition)
        if e[1]["transition"] == "answer"
    ]
    assert header["actor"] == f"user:{user.id}" and payload["fields"]["note"] == "Emailed the PDF."
    listing = client.get(INDEX).get_data(as_text=True)
    assert "answered" in listing
    again = client.post(url, data={"note": "Again.", "csrf_token": token(client)})
    assert again.status_code == 409


def test_a_passed_deadline_shows_in_the_list(client, session, inquiry, signed_in):
    found = inquiry()
    case = session.get(Case, found.case_id)
    case.sla_due_at = datetime(2000, 1, 2, tzinfo=UTC)
    session.add(case)
    session.commit()
    signed_in("auditor")
    assert "deadline passed" in client.get(INDEX).get_data(as_text=True)


def test_the_case_page_of_an_inquiry_renders(client, session, inquiry, signed_in):
    found = inquiry()
    signed_in("lead")
    reference = session.get(Case, found.case_id).reference
    page = client.get(f"/cases/{reference}")
    assert page.status_code == 200
    assert "Provider inquiry OAI-TS-2026-0042 recorded" in page.get_data(as_text=True)
    queue = client.get("/queues/provider_inquiries")
    assert queue.status_code == 200 and reference in queue.get_data(as_text=True)
