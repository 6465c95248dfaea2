"""/admin/access-requests: who may list, open and fulfil; the downloads; hostile input."""

import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlmodel import select

from cases.core.sqltypes import utcnow
from cases.enums import AccessRequestStatus, Role
from cases.models import AccessRequest, Subject
from cases.privacy.service import request_access
from cases.trail.models import CaseEvent
from tests.factories import make_api_key
from tests.helpers import count, csrf_token, fresh, reloaded
from tests.privacy.conftest import PERSON, REPORTER_EMAIL, REPORTER_NAME

PAGE = "/admin/access-requests"
READERS = {Role.admin, Role.lead, Role.auditor}
ANSWERERS = {Role.admin, Role.lead}


@pytest.fixture
def person(session, open_case) -> Subject:
    case = open_case(subject=PERSON)
    return session.get(Subject, case.subject_id)


@pytest.fixture
def open_request(session, person) -> AccessRequest:
    request = request_access(
        session, subject=person, case=None, channel="staff", requested_by="system:test"
    )
    session.commit()
    return request


def written(session) -> tuple[int, int]:
    fresh(session)
    return count(session, AccessRequest), count(session, CaseEvent)


def token(client) -> str:
    return csrf_token(client, "/")


@pytest.mark.parametrize("role", list(Role))
def test_who_reaches_the_page(client, session, open_request, signed_in, role):
    signed_in(role)
    page = client.get(PAGE)
    assert page.status_code == (200 if role in READERS else 403)
    if role in READERS:
        text = page.get_data(as_text=True)
        assert PERSON in text and "Access requests" in text
        assert ("Fulfil and download" in text) is (role in ANSWERERS)
        assert ("Open request" in text) is (role in ANSWERERS)


@pytest.mark.parametrize("role", list(Role))
def test_who_may_open_a_request(client, session, person, signed_in, role):
    signed_in(role)
    before = written(session)
    response = client.post(
        PAGE, data={"kind": "account", "external_id": PERSON, "csrf_token": token(client)}
    )
    if role in ANSWERERS:
        assert response.status_code == 302
        request = fresh(session).exec(select(AccessRequest)).one()
        assert (request.subject_id, request.channel) == (person.id, "staff")
        assert "answer it by" in client.get(PAGE).get_data(as_text=True)
    else:
        assert response.status_code == 403
        assert written(session) == before


@pytest.mark.parametrize("role", list(Role))
def test_who_may_fulfil(client, session, open_request, signed_in, role):
    signed_in(role)
    before = written(session)
    response = client.post(
        f"{PAGE}/{open_request.id}/fulfil", data={"format": "json", "csrf_token": token(client)}
    )
    if role in ANSWERERS:
        assert response.status_code == 200
        assert reloaded(session, open_request).status == AccessRequestStatus.fulfilled
    else:
        assert response.status_code == 403
        assert written(session) == before


def test_anonymous_visitors_are_sent_to_sign_in(client, session, open_request):
    before = written(session)
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login" in response.location
    for url in (PAGE, f"{PAGE}/{open_request.id}/fulfil"):
        assert client.post(url, data={"kind": "account", "external_id": PERSON}).status_code in (
            302,
            400,
        )
    assert written(session) == before


def test_an_api_key_gets_nothing(client, session, open_request):
    _key, secret = make_api_key(session)
    session.commit()
    before = written(session)
    headers = {"Authorization": f"Bearer {secret}"}
    response = client.get(PAGE, headers=headers)
    assert response.status_code == 302 and "/login" in response.location
    response = client.post(
        f"{PAGE}/{open_request.id}/fulfil", headers=headers, data={"format": "json"}
    )
    assert response.status_code in (302, 400) and PERSON not in response.get_data(as_text=True)
    assert written(session) == before


@pytest.mark.parametrize("format", ["json", "html", "zip"])
def test_fulfilment_downloads_the_export(client, session, open_request, signed_in, format):
    signed_in("lead")
    response = client.post(
        f"{PAGE}/{open_request.id}/fulfil", data={"format": format, "csrf_token": token(client)}
    )
    assert response.status_code == 200
    name = f"access-request-{open_request.id}"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{name}.{format}"'
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data()
    if format == "zip":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert sorted(archive.namelist()) == [f"{name}.html", f"{name}.json"]
            document = archive.read(f"{name}.json")
    elif format == "json":
        document = body
    else:
        assert b"<!doctype html>" in body and PERSON.encode() in body
        assert b"<link" not in body and b"<script" not in body, "a standalone page"
        document = None
    request = reloaded(session, open_request)
    if document is not None:
        assert json.loads(document)["you"]["id"] == PERSON
        assert hashlib.sha256(document).hexdigest() == request.export_sha256
    assert request.export_sha256 and request.fulfilled_at is not None


def test_a_fulfilled_request_cannot_be_fulfilled_again(client, session, open_request, signed_in):
    signed_in("admin")
    url = f"{PAGE}/{open_request.id}/fulfil"
    assert client.post(url, data={"format": "json", "csrf_token": token(client)}).status_code == 200
    before = written(session)
    again = client.post(url, data={"format": "json", "csrf_token": token(client)})
    assert again.status_code == 302
    assert "already fulfilled" in client.get(again.location).get_data(as_text=True)
    assert written(session) == before
    missing = client.post(
        f"{PAGE}/99999/fulfil", data={"format": "json", "csrf_token": token(client)}
    )
    assert missing.status_code == 404


def test_overdue_and_late_requests_are_flagged(client, session, person, signed_in):
    request_access(
        session,
        subject=person,
        case=None,
        channel="portal",
        requested_by="system:portal",
        now=utcnow() - timedelta(days=31),
    )
    session.commit()
    signed_in("auditor")
    assert "overdue" in client.get(PAGE).get_data(as_text=True)


def test_a_lead_cannot_find_a_subject_known_only_from_restricted_cases(
    client, session, open_case, signed_in
):
    open_case("sexual/minors", subject="acct-cs")
    signed_in("lead")
    before = written(session)
    data = {"kind": "account", "external_id": "acct-cs", "csrf_token": token(client)}
    response = client.post(PAGE, data=data)
    assert response.status_code == 404 and "Not found" in response.get_data(as_text=True)
    assert written(session) == before


def test_the_export_page_names_no_reporter(client, session, record, signed_in):
    signed_in("admin")
    data = {"kind": "account", "external_id": PERSON, "csrf_token": token(client)}
    assert client.post(PAGE, data=data).status_code == 302
    request = fresh(session).exec(select(AccessRequest)).one()
    response = client.post(
        f"{PAGE}/{request.id}/fulfil", data={"format": "zip", "csrf_token": token(client)}
    )
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        for name in archive.namelist():
            text = archive.read(name).decode()
            for identity in (REPORTER_NAME, REPORTER_EMAIL, record.decider.email):
                assert identity not in text


HOSTILE_OPEN = {
    "huge id": ({"kind": "account", "external_id": "x" * 5000}, 400),
    "NUL in the id": ({"kind": "account", "external_id": f"{PERSON}\x00"}, 400),
    "control character": ({"kind": "account", "external_id": "acct\x1b[31m"}, 400),
    "markup": ({"kind": "account", "external_id": "<script>alert(1)</script>"}, 404),
    "unknown kind": ({"kind": "human", "external_id": PERSON}, 400),
    "kind as a list": ({"kind": ["account", "app"], "external_id": "nobody"}, 404),
    "no id": ({"kind": "account"}, 400),
    "blank id": ({"kind": "account", "external_id": "   "}, 400),
}


@pytest.mark.parametrize("case", HOSTILE_OPEN, ids=list(HOSTILE_OPEN))
def test_hostile_input_on_the_open_form_writes_nothing(client, session, person, signed_in, case):
    data, status = HOSTILE_OPEN[case]
    signed_in("admin")
    before = written(session)
    response = client.post(PAGE, data={**data, "csrf_token": token(client)})
    assert response.status_code == status
    text = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in text
    assert 'class="error"' in text, "the form says what is wrong"
    assert written(session) == before


def test_other_hostile_requests_are_refused(client, session, open_request, signed_in):
    signed_in("admin")
    before = written(session)
    fulfil = f"{PAGE}/{open_request.id}/fulfil"
    assert (
        client.post(fulfil, data={"format": "exe", "csrf_token": token(client)}).status_code == 400
    )
    assert client.post(fulfil, data={"format": "json"}).status_code == 400, "no CSRF token"
    assert client.post(PAGE, json={"kind": "account", "external_id": PERSON}).status_code == 400
    assert (
        client.post(f"{PAGE}/not-a-number/fulfil", data={"csrf_token": token(client)}).status_code
        == 404
    )
    huge = {"external_id": "x" * (11 * 1024 * 1024), "csrf_token": token(client)}
    assert client.post(PAGE, data=huge).status_code == 413
    upload = {"kind": "account", "external_id": (io.BytesIO(b"acct-7"), "id.txt")}
    response = client.post(
        PAGE, data={**upload, "csrf_token": token(client)}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert written(session) == before
    assert reloaded(session, open_request).status == AccessRequestStatus.open
