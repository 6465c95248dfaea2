"""Restriction holds everywhere (issue 11, item 4): a child-safety case and its media reach no one
not cleared for them — by URL, the API, search, an export or an intake answer — and restricted
media attached to an ordinary case are stored once, in the restricted area, kept off its
timeline, and withheld (named by hash) from an uncleared exporter's bundle."""

import io
import json
import re
import zipfile
from urllib.parse import urlsplit

import pytest
from sqlmodel import select

from cases.core.uploads import Attachment
from cases.enums import ApiScope, EventType
from cases.evidence.blobs import blob_store
from cases.evidence.service import WITHHELD_REASON, list_evidence, store_attachments
from cases.lifecycle.actors import Actor
from cases.models import Case
from cases.trail.models import Blob, CaseEvent, EventPayload
from cases.trail.verify import verify_bundle
from tests.factories import make_api_key
from tests.helpers import csrf_token, post_report
from tests.intake.conftest import detection

SYSTEM = Actor.system("test")
MEDIA = b"\x89PNG\r\n\x1a\n" + b"restricted media " * 64
UNCLEARED = ["reviewer", "lead"]
# Roles that see a restricted case's history but never its media.
HISTORY_ONLY = ["auditor"]


def attach(session, case: Case, data: bytes, filename: str = "photo.png") -> str:
    """Store `data` as evidence of `case`, as a notice's or an appeal's attachment is."""
    attachment = Attachment(
        filename=filename, media_type="image/png", size=len(data), stream=io.BytesIO(data)
    )
    [sha256] = store_attachments(
        session, case=case, attachments=[attachment], actor=SYSTEM, context={"appeal_id": 1}
    )
    session.commit()
    return sha256


@pytest.fixture
def restricted(session, open_case) -> Case:
    """A child-safety case holding one image."""
    case = open_case("sexual/minors", subject="acct-cs")
    assert case.restricted
    attach(session, case, MEDIA, filename="original-name.png")
    return case


@pytest.fixture
def ordinary(session, open_case) -> Case:
    return open_case("harassment", subject="acct-std")


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def export_zip(client, reference: str, tmp_path):
    token = csrf_token(client, "/audit/")
    response = client.post(
        "/audit/export", data={"export-reference": reference, "export-csrf_token": token}
    )
    if response.status_code != 200:
        return response.status_code, None
    path = tmp_path / f"{reference}.zip"
    path.write_bytes(response.get_data())
    return 200, path


def public_key(client) -> str:
    return client.get("/audit/public-key.txt").get_data(as_text=True).strip()


# --- a child-safety case is invisible to every role not cleared for it -------------------------


@pytest.mark.parametrize("role", UNCLEARED)
def test_by_url_search_and_api_a_restricted_case_does_not_exist(
    client, session, restricted, signed_in, role
):
    signed_in(role)
    ref = restricted.reference
    assert client.get(f"/cases/{ref}").status_code == 404
    assert client.get("/queues/child_safety").status_code == 404
    for query in (ref, "acct-cs"):
        assert f"/cases/{ref}" not in client.get(f"/search?q={query}").get_data(as_text=True)
    assert client.get(f"/api/v1/cases/{ref}").status_code == 404
    assert client.get(f"/api/v1/cases/{ref}/events").status_code == 404
    listed = client.get("/api/v1/cases").get_json()["cases"]
    assert ref not in {case["reference"] for case in listed}


def test_an_integration_never_reaches_a_restricted_case(client, session, restricted):
    _, key = make_api_key(session)  # every scope
    session.commit()
    ref = restricted.reference
    assert client.get(f"/api/v1/cases/{ref}", headers=bearer(key)).status_code == 404
    assert client.get(f"/api/v1/cases/{ref}/events", headers=bearer(key)).status_code == 404
    listed = client.get("/api/v1/cases", headers=bearer(key)).get_json()["cases"]
    assert ref not in {case["reference"] for case in listed}


def test_specialists_find_it(client, session, restricted, signed_in):
    signed_in("child_safety")
    assert client.get(f"/cases/{restricted.reference}").status_code == 200
    assert f"/cases/{restricted.reference}" in client.get("/search?q=acct-cs").get_data(
        as_text=True
    )


@pytest.mark.parametrize("role", ["lead"])
def test_an_uncleared_exporter_cannot_export_a_restricted_case(
    client, session, restricted, signed_in, tmp_path, role
):
    signed_in(role)
    status, _ = export_zip(client, restricted.reference, tmp_path)
    assert status == 404


@pytest.mark.parametrize("role", HISTORY_ONLY)
def test_an_auditor_exports_the_history_without_the_media(
    client, session, restricted, signed_in, tmp_path, role
):
    signed_in(role)
    [sha] = [b.sha256 for b in session.exec(select(Blob))]
    status, bundle = export_zip(client, restricted.reference, tmp_path)
    assert status == 200
    names = zipfile.ZipFile(bundle).namelist()
    assert f"blobs/{sha}" not in names and "withheld.json" in names
    result = verify_bundle(bundle, verifier_key=public_key(client))
    assert result.withheld == ((sha, WITHHELD_REASON),) and result.blobs == 0


def test_an_admin_export_carries_the_media(client, session, restricted, signed_in, tmp_path):
    signed_in("admin")
    [sha] = [b.sha256 for b in session.exec(select(Blob))]
    status, bundle = export_zip(client, restricted.reference, tmp_path)
    assert status == 200
    assert zipfile.ZipFile(bundle).read(f"blobs/{sha}") == MEDIA
    assert verify_bundle(bundle, verifier_key=public_key(client)).withheld == ()


# --- intake answers and status links -----------------------------------------------------------


def test_a_detection_landing_in_a_restricted_case_is_answered_by_reference_alone(client, session):
    _, key = make_api_key(session, scopes=[ApiScope.detections_write])
    session.commit()
    headers = {**bearer(key), "Content-Type": "application/json"}
    body = detection("acct-cs", scores={"sexual/minors": 0.97})
    for _ in range(2):  # opening it, then joining it: the answer says neither
        response = client.post("/api/v1/detections", data=json.dumps(body), headers=headers)
        assert response.status_code == 201
        case = response.get_json()["case"]
        assert set(case) == {"reference", "restricted"} and case["restricted"] is True
    ordinary = detection("acct-std", scores={"harassment": 0.9})
    response = client.post("/api/v1/detections", data=json.dumps(ordinary), headers=headers)
    assert response.get_json()["case"]["state"] == "new"
    assert response.get_json()["case"]["restricted"] is False


def test_a_batch_answers_each_restricted_item_by_reference_alone(client, session):
    _, key = make_api_key(session, scopes=[ApiScope.detections_write])
    session.commit()
    items = [detection(scores={"harassment": 0.9}), detection(scores={"sexual/minors": 0.9})]
    response = client.post(
        "/api/v1/detections/batch",
        data=json.dumps({"items": items}),
        headers={**bearer(key), "Content-Type": "application/json"},
    )
    standard, restricted = (r["case"] for r in response.get_json()["results"])
    assert {"workflow", "state", "priority", "priority_band", "opened"} <= set(standard)
    assert set(restricted) == {"reference", "restricted"}


REPORTER_PAGE_WORDS = ("with a specialist team", "A specialist team handles it.")
STATE_WORDS = ("under review", "action taken", "no action", "Outcome", "closed", "triage")


def assert_reporter_page_says_only_received(client, path: str) -> None:
    page = client.get(path).get_data(as_text=True)
    assert all(words in page for words in REPORTER_PAGE_WORDS)
    section = page.split("<h1>", 1)[1].split("</section>", 1)[0]
    assert not [words for words in STATE_WORDS if words in section]


def test_a_public_notice_landing_in_a_restricted_case(client, session, walk):
    response = client.post(
        "/api/v1/reports",
        json={
            "category": "minors.csam",
            "location": "https://chat.example/c/1",
            "explanation": "Sexual images of a child shared in a chat.",
            "good_faith": True,
        },
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"reference", "status_url", "received_at", "lacks_notice_contact"}
    assert_reporter_page_says_only_received(client, urlsplit(body["status_url"]).path)
    case = session.exec(select(Case).where(Case.reference == body["reference"])).one()
    assert case.restricted


def test_the_web_form_reporter_of_a_restricted_case_learns_only_receipt(client, session):
    response = post_report(client, category="minors.grooming")
    assert response.status_code == 302
    received = client.get("/report/received").get_data(as_text=True)
    path = re.search(r"/my/[A-Za-z0-9._-]+", received)[0]
    assert_reporter_page_says_only_received(client, path)


# --- restricted media attached to an ordinary case ----------------------------------------------


@pytest.fixture
def shared(session, restricted, ordinary) -> str:
    """The child-safety case's image, later attached to the ordinary case (an appeal's file)."""
    return attach(session, ordinary, MEDIA, filename="holiday.png")


def test_restricted_bytes_are_stored_once_in_the_restricted_area(session, shared):
    blob = session.get(Blob, shared)
    assert blob.restricted
    store = blob_store()
    assert store.path(shared, restricted=True).read_bytes() == MEDIA
    assert not store.path(shared, restricted=False).exists()
    assert not [p for p in (store.root / "blobs").rglob("*") if p.is_file()]


def test_the_ordinary_case_records_no_name_or_hash_of_it(session, ordinary, shared):
    blob = session.get(Blob, shared)
    added = session.exec(
        select(EventPayload.payload)
        .join(CaseEvent, CaseEvent.id == EventPayload.event_id)
        .where(CaseEvent.case_id == ordinary.id, CaseEvent.type == EventType.evidence_added)
    ).one()
    assert json.loads(added) == {"appeal_id": 1, "restricted": True}
    assert not {"holiday.png", blob.md5, blob.sha1} & set(added.split('"'))


@pytest.mark.parametrize("role", UNCLEARED)
def test_its_timeline_and_evidence_show_nothing_of_it(
    client, session, ordinary, shared, signed_in, staff, role
):
    blob = session.get(Blob, shared)
    signed_in(role)
    page = client.get(f"/cases/{ordinary.reference}").get_data(as_text=True)
    for secret in ("holiday.png", "original-name.png", blob.md5, blob.sha1, blob.sha256):
        assert secret not in page
    assert list_evidence(session, case=ordinary, viewer=staff(role)) == []


def test_the_api_gives_an_integration_nothing_of_it_but_the_chained_hash(
    client, session, ordinary, shared
):
    blob = session.get(Blob, shared)
    _, key = make_api_key(session, scopes=[ApiScope.cases_read])
    session.commit()
    events = client.get(
        f"/api/v1/cases/{ordinary.reference}/events", headers=bearer(key)
    ).get_json()["events"]
    payloads = json.dumps([event.get("payload") for event in events])
    assert "holiday.png" not in payloads and blob.md5 not in payloads and blob.sha1 not in payloads


def test_an_uncleared_lead_exports_it_withheld_and_the_bundle_verifies(
    client, session, ordinary, shared, signed_in, tmp_path
):
    signed_in("lead")
    status, bundle = export_zip(client, ordinary.reference, tmp_path)
    assert status == 200
    archive = zipfile.ZipFile(bundle)
    assert f"blobs/{shared}" not in archive.namelist()
    assert json.loads(archive.read("withheld.json")) == {"withheld": {shared: WITHHELD_REASON}}
    result = verify_bundle(bundle, verifier_key=public_key(client))
    assert result.withheld == ((shared, WITHHELD_REASON),)
    exported = session.exec(
        select(CaseEvent).where(
            CaseEvent.case_id == ordinary.id, CaseEvent.type == EventType.exported
        )
    ).one()
    # The export's event names the files that left with it: not this one.
    assert json.loads(exported.header)["blobs"] == []
    payload = json.loads(session.get(EventPayload, exported.id).payload)
    assert payload == {"bundle": f"{ordinary.reference}-evidence.zip", "withheld": 1}


def test_an_admin_exports_it_whole(client, session, ordinary, shared, signed_in, tmp_path):
    signed_in("admin")
    status, bundle = export_zip(client, ordinary.reference, tmp_path)
    assert zipfile.ZipFile(bundle).read(f"blobs/{shared}") == MEDIA
    assert verify_bundle(bundle, verifier_key=public_key(client)).withheld == ()
    exported = session.exec(
        select(CaseEvent).where(
            CaseEvent.case_id == ordinary.id, CaseEvent.type == EventType.exported
        )
    ).one()
    assert json.loads(exported.header)["blobs"] == [shared]


def test_the_command_line_withholds_it_unless_told(runner, session, ordinary, shared, tmp_path):
    out = tmp_path / "withheld"
    result = runner.invoke(args=["trail", "export", ordinary.reference, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "withheld 1 restricted file" in result.output
    assert not (out / "blobs" / shared).exists() and (out / "withheld.json").exists()
    whole = tmp_path / "whole"
    result = runner.invoke(
        args=[
            "trail", "export", ordinary.reference, "--out", str(whole), "--with-restricted-media"
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (whole / "blobs" / shared).read_bytes() == MEDIA
