import io
import zipfile

import pytest
from sqlmodel import select

from cases.enums import EventType
from cases.trail.models import CaseEvent
from cases.trail.store import append_event
from cases.trail.verify import verify_bundle
from tests.factories import make_case
from tests.helpers import csrf_token


@pytest.fixture
def case(session):
    case = make_case(session)
    for n in range(3):
        append_event(
            session, case=case, type=EventType.note, actor="user:1", payload={"text": f"note {n}"}
        )
    session.commit()
    return case


@pytest.mark.parametrize(
    ("role", "status"),
    [("auditor", 200), ("admin", 200), ("lead", 200), ("reviewer", 403), ("child_safety", 403)],
)
def test_who_reaches_the_audit_page(client, session, role, status, signed_in):
    signed_in(role)
    assert client.get("/audit/").status_code == status


def test_verify_a_case_and_the_whole_trail(client, session, case, signed_in):
    signed_in("auditor")
    token = csrf_token(client, "/audit/")
    page = client.post(
        "/audit/verify", data={"verify-reference": case.reference, "verify-csrf_token": token}
    )
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "PASS" in text and "3 events" in text
    page = client.post("/audit/verify", data={"verify-reference": "", "verify-csrf_token": token})
    assert "the whole trail" in page.get_data(as_text=True) and "PASS" in page.get_data(
        as_text=True
    )


def test_unknown_case_is_an_error_next_to_the_field(client, session, signed_in):
    signed_in("auditor")
    token = csrf_token(client, "/audit/")
    page = client.post(
        "/audit/verify", data={"verify-reference": "DK-2026-999999", "verify-csrf_token": token}
    )
    assert page.status_code == 404
    assert 'id="verify-reference-error"' in page.get_data(as_text=True)


def test_export_downloads_a_bundle_that_verifies_offline(
    client, session, case, tmp_path, signed_in
):
    signed_in("auditor")
    token = csrf_token(client, "/audit/")
    response = client.post(
        "/audit/export", data={"export-reference": case.reference, "export-csrf_token": token}
    )
    assert response.status_code == 200 and response.mimetype == "application/zip"
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(response.get_data())
    assert zipfile.is_zipfile(io.BytesIO(response.get_data()))
    key = client.get("/audit/public-key.txt").get_data(as_text=True)
    verify_bundle(bundle, verifier_key=key.strip())
    types = session.exec(select(CaseEvent.type).where(CaseEvent.case_id == case.id)).all()
    assert types.count(EventType.exported) == 1


def test_restricted_case_is_not_exportable_by_a_lead(client, session, signed_in):
    restricted = make_case(session, restricted=True)
    append_event(session, case=restricted, type=EventType.note, actor="system:test")
    session.commit()
    signed_in("lead")
    token = csrf_token(client, "/audit/")
    response = client.post(
        "/audit/export", data={"export-reference": restricted.reference, "export-csrf_token": token}
    )
    assert response.status_code == 404


@pytest.mark.parametrize("url", ["/audit/verify", "/audit/export"])
def test_forms_reject_a_missing_csrf_token(client, session, case, url, signed_in):
    signed_in("auditor")
    assert (
        client.post(
            url, data={"verify-reference": case.reference, "export-reference": case.reference}
        ).status_code
        == 400
    )
