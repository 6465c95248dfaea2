import pytest
from sqlmodel import select

from cases.trail.models import CaseEvent
from tests.factories import make_api_key, make_case, make_user
from tests.helpers import login


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def cases(ctx, session):
    made = [make_case(session) for _ in range(5)]
    made.append(make_case(session, restricted=True, workflow="child_safety"))
    session.commit()
    return made


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield


@pytest.fixture
def key(session):
    _, text = make_api_key(session, scopes=["cases:read", "cases:write"])
    session.commit()
    return text


def test_openapi_document_lists_the_interface(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    for path in (
        "/detections",
        "/detections/batch",
        "/reports",
        "/cases",
        "/cases/{reference}",
        "/cases/{reference}/events",
        "/cases/{reference}/transitions",
        "/cases/{reference}/appeals",
        "/log/checkpoint",
        "/log/proof/inclusion",
        "/log/proof/consistency",
    ):
        assert path in document["paths"], path


def test_an_integration_never_sees_restricted_cases(client, cases, key):
    body = client.get("/api/v1/cases", headers=bearer(key)).get_json()
    references = [c["reference"] for c in body["cases"]]
    assert cases[-1].reference not in references and len(references) == 5
    assert (
        client.get(f"/api/v1/cases/{cases[-1].reference}", headers=bearer(key)).status_code == 404
    )


def test_an_auditor_session_sees_restricted_cases(client, session, cases):
    auditor = make_user(session, role="auditor")
    session.commit()
    login(client, auditor.email)
    body = client.get("/api/v1/cases").get_json()
    assert cases[-1].reference in [c["reference"] for c in body["cases"]]
    assert client.get(f"/api/v1/cases/{cases[-1].reference}").status_code == 200


def test_keyset_pages_walk_every_case_once(client, cases, key):
    seen, cursor = [], None
    while True:
        url = "/api/v1/cases?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=bearer(key)).get_json()
        seen += [c["reference"] for c in body["cases"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [c.reference for c in reversed(cases[:5])]


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "cursor=%%%"])
def test_bad_paging_parameters_are_422(client, cases, key, query):
    response = client.get(f"/api/v1/cases?{query}", headers=bearer(key))
    assert response.status_code == 422 and response.get_json()["error"]["fields"]


def test_filters(client, cases, key, session):
    cases[0].state, cases[0].queue = "triage", "triage"
    session.add(cases[0])
    session.commit()
    body = client.get("/api/v1/cases?state=triage", headers=bearer(key)).get_json()
    assert [c["reference"] for c in body["cases"]] == [cases[0].reference]


def test_an_integration_fires_a_system_transition(client, session, ctx, key):
    case = make_case(session, state="awaiting_information", stage="triage")
    session.commit()
    response = client.post(
        f"/api/v1/cases/{case.reference}/transitions",
        json={"transition": "information_received", "fields": {"answer": "At 3 pm, in #general."}},
        headers=bearer(key),
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["case"]["state"] == "triage"
    event = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()[-1]
    assert event.type == "transition" and event.actor.startswith("system:api_key:")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"transition": "start_triage"}, 403, "forbidden"),
        ({"transition": "information_received"}, 409, "transition_refused"),
        ({"transition": "no_such_thing"}, 422, "unknown_transition"),
        ({}, 422, "validation_failed"),
        ({"transition": "start_triage", "fields": []}, 422, "validation_failed"),
    ],
)
def test_refused_transitions(client, session, ctx, key, body, status, code):
    case = make_case(session)
    session.commit()
    response = client.post(
        f"/api/v1/cases/{case.reference}/transitions", json=body, headers=bearer(key)
    )
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    session.refresh(case)
    assert case.state == "new"


def test_transitions_need_a_key_with_the_write_scope(client, session, cases):
    _, read_only = make_api_key(session, scopes=["cases:read"])
    reviewer = make_user(session, role="admin")
    session.commit()
    url = f"/api/v1/cases/{cases[0].reference}/transitions"
    assert (
        client.post(url, json={"transition": "start_triage"}, headers=bearer(read_only)).status_code
        == 403
    )
    login(client, reviewer.email)  # a session cookie is not enough: no CSRF on the API
    assert client.post(url, json={"transition": "start_triage"}).status_code == 401


def test_the_transitions_endpoint_cannot_file_an_appeal(client, session, ctx, key):
    case = make_case(session, state="enforced", stage="enforcement")
    session.commit()
    response = client.post(
        f"/api/v1/cases/{case.reference}/transitions",
        json={"transition": "file_appeal"},
        headers=bearer(key),
    )
    assert response.status_code == 409
    assert "/appeals" in response.get_json()["error"]["message"]
    session.refresh(case)
    assert case.state == "enforced"


@pytest.mark.parametrize("reference", ["DK-2026%00000001", "D" * 5000, "%E2%80%AE"])
def test_hostile_references_are_404(client, session, key, signed_in, reference):
    assert client.get(f"/api/v1/cases/{reference}", headers=bearer(key)).status_code == 404
    signed_in("admin")
    assert client.get(f"/cases/{reference}").status_code == 404
