"""POST /api/v1/cases/{ref}/appeals: the operator relays an appeal filed in its own product."""

from datetime import timedelta

import pytest
from sqlmodel import select

from cases.enums import AppellantKind
from cases.models import Appeal, Case, Decision
from cases.portal.links import issue_link, status_token
from tests.factories import make_api_key, make_case
from tests.helpers import count, reloaded

GROUNDS = "My account was hacked; I did not send those messages."


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def key(session):
    _, text = make_api_key(session, scopes=["appeals:write"])
    session.commit()
    return text


@pytest.fixture
def enforced(open_case, walk):
    return walk(open_case(), "enforced")


def url(case: Case) -> str:
    return f"/api/v1/cases/{case.reference}/appeals"


BODY = {"appellant": {"kind": "affected_user"}, "grounds": GROUNDS}


def test_an_appeal_is_filed_and_replayed_under_its_key(client, session, enforced, key):
    headers = {**bearer(key), "Idempotency-Key": "appeal-1"}
    first = client.post(url(enforced), json=BODY, headers=headers)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()["appeal"]
    assert body["case"] == enforced.reference and body["channel"] == "api"
    assert body["appellant"] == "affected_user" and body["grounds"] == GROUNDS
    again = client.post(url(enforced), json=BODY, headers=headers)
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(session, Appeal) == 1
    assert reloaded(session, enforced).state == "appeal"
    assert enforced.assignee_id is None


def test_a_second_appeal_while_one_is_open_is_409(client, session, enforced, key):
    assert client.post(url(enforced), json=BODY, headers=bearer(key)).status_code == 201
    second = client.post(url(enforced), json=BODY, headers=bearer(key))
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "appeal_open"


def test_after_the_window_it_is_422_with_the_date_it_closed(client, session, enforced, key):
    decision = session.exec(select(Decision).where(Decision.case_id == enforced.id)).one()
    decision.decided_at -= timedelta(days=184)
    session.commit()
    closed = decision.decided_at + timedelta(days=183)
    answer = client.post(url(enforced), json=BODY, headers=bearer(key))
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "appeal_window_closed"
    assert closed.strftime("%Y-%m-%dT%H:%M:%S") in error["fields"]["received_at"]
    assert count(session, Appeal) == 0


def test_received_at_inside_the_window_is_honoured(client, session, enforced, key):
    decision = session.exec(select(Decision).where(Decision.case_id == enforced.id)).one()
    decision.decided_at -= timedelta(days=184)
    session.commit()
    received = (decision.decided_at + timedelta(days=180)).strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = client.post(url(enforced), json={**BODY, "received_at": received}, headers=bearer(key))
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["appeal"]["filed_at"].startswith(received[:19])


def test_a_case_the_key_may_not_see_is_404(client, session, key):
    hidden = make_case(session, restricted=True, workflow="child_safety")
    session.commit()
    assert client.post(url(hidden), json=BODY, headers=bearer(key)).status_code == 404
    missing = client.post("/api/v1/cases/DK-1999-000001/appeals", json=BODY, headers=bearer(key))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 401), ("unknown key", 401), ("read-only key", 403), ("staff cookie", 401)],
)
def test_who_may_relay_an_appeal(client, session, enforced, signed_in, who, status):
    headers = {}
    if who == "unknown key":
        headers = bearer("dk_not_a_key")
    elif who == "read-only key":
        _, text = make_api_key(session, scopes=["cases:read", "cases:write"])
        session.commit()
        headers = bearer(text)
    elif who == "staff cookie":
        signed_in("admin")  # a session cookie is no API key: nothing a cross-site form can ride
    answer = client.post(url(enforced), json=BODY, headers=headers)
    assert answer.status_code == status
    assert count(session, Appeal) == 0


def test_a_private_link_of_another_case_is_no_credential(
    client, session, enforced, open_case, walk
):
    other = walk(open_case(subject="acct-2"), "enforced")
    with client.application.test_request_context():
        token = status_token(issue_link(session, case=other, holder=AppellantKind.affected_user))
    session.commit()
    answer = client.post(url(enforced), json=BODY, headers=bearer(token))
    assert answer.status_code == 401 and count(session, Appeal) == 0


HOSTILE = [
    ([], "body"),
    ({"appellant": "affected_user", "grounds": GROUNDS}, "appellant"),
    ({"appellant": {"kind": "boss"}, "grounds": GROUNDS}, "appellant.kind"),
    ({"appellant": {"kind": "reporter"}, "grounds": GROUNDS}, "appellant.report_id"),
    (
        {"appellant": {"kind": "reporter", "report_id": "1"}, "grounds": GROUNDS},
        "appellant.report_id",
    ),
    (
        {"appellant": {"kind": "reporter", "report_id": 10**30}, "grounds": GROUNDS},
        "appellant.report_id",
    ),
    (
        {"appellant": {"kind": "affected_user", "report_id": 1}, "grounds": GROUNDS},
        "appellant.report_id",
    ),
    ({"appellant": {"kind": "affected_user"}, "grounds": 5}, "grounds"),
    ({"appellant": {"kind": "affected_user"}, "grounds": ["a"]}, "grounds"),
    ({"appellant": {"kind": "affected_user"}, "grounds": "x" * 5001}, "grounds"),
    ({"appellant": {"kind": "affected_user"}}, "grounds"),
    ({**BODY, "received_at": "yesterday"}, "received_at"),
    ({**BODY, "received_at": "2999-01-01T00:00:00Z"}, "received_at"),
    ({**BODY, "received_at": "2001-01-01T00:00:00Z"}, "received_at"),
    ({**BODY, "outcome": "reversed"}, "outcome"),
    ({**BODY, "grounds": "<script>alert(1)</script>\x00"}, "grounds"),
]


@pytest.mark.parametrize(("body", "field"), HOSTILE)
def test_hostile_bodies_are_422_naming_the_field(client, session, enforced, key, body, field):
    answer = client.post(url(enforced), json=body, headers=bearer(key))
    assert answer.status_code == 422, answer.get_json()
    assert field in answer.get_json()["error"]["fields"]
    assert count(session, Appeal) == 0 and reloaded(session, enforced).state == "enforced"


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe not utf-8", b"{" * 3000, b'{"grounds": "\\ud800"}', b"x" * 100],
)
def test_undecodable_bodies_are_4xx(client, session, enforced, key, data):
    answer = client.post(
        url(enforced), data=data, headers={**bearer(key), "Content-Type": "application/json"}
    )
    assert 400 <= answer.status_code < 500
    assert count(session, Appeal) == 0
