"""Opening evidence: the file is streamed as a download with safe headers, and the view is on the
trail; evidence of another case, or restricted evidence, does not exist for those not cleared."""

import json

import pytest

from cases.enums import EventType
from cases.trail.models import EventPayload
from tests.helpers import events


def test_opening_evidence_streams_it_and_records_the_view(
    client, session, open_case, signed_in, add_evidence
):
    case = open_case()
    data = b"<html><script>alert(1)</script></html>"
    blob = add_evidence(case, data, filename="page.html")
    user = signed_in("reviewer")
    before = len(events(session, case))

    response = client.get(f"/cases/{case.reference}/evidence/{blob.sha256}")
    assert response.status_code == 200
    assert response.data == data
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert f"evidence-{blob.sha256[:16]}.txt" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "sandbox" in response.headers["Content-Security-Policy"]

    viewed = events(session, case)[before:]
    assert [e.type for e in viewed] == [EventType.evidence_viewed]
    assert viewed[0].actor == f"user:{user.id}"
    assert json.loads(viewed[0].header)["blobs"] == [blob.sha256]
    payload = json.loads(session.get(EventPayload, viewed[0].id).payload)
    assert payload == {"sha256": blob.sha256, "media_type": "text/plain", "filename": "page.html"}
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    assert "Evidence viewed: page.html" in page


def test_evidence_of_another_case_is_not_found(client, session, open_case, signed_in, add_evidence):
    mine, other = open_case(subject="acct-1"), open_case(subject="acct-2")
    blob = add_evidence(other, b"someone else's file")
    signed_in("reviewer")
    before = len(events(session, mine))
    assert client.get(f"/cases/{mine.reference}/evidence/{blob.sha256}").status_code == 404
    assert client.get(f"/cases/{mine.reference}/evidence/{'0' * 64}").status_code == 404
    assert client.get(f"/cases/{mine.reference}/evidence/not-a-hash").status_code == 404
    assert len(events(session, mine)) == before


@pytest.mark.parametrize(("role", "status"), [("reviewer", 404), ("lead", 404), ("auditor", 200)])
def test_restricted_evidence_opens_only_for_cleared_roles(
    client, session, open_case, signed_in, add_evidence, role, status
):
    # Restricted media on an unrestricted case (e.g. moved there by a specialist's triage).
    case = open_case()
    blob = add_evidence(case, b"restricted media", filename="media.txt", restricted=True)
    signed_in(role)
    page = client.get(f"/cases/{case.reference}").get_data(as_text=True)
    listed = page.split('id="evidence-heading"', 1)[1].split("</section>", 1)[0]
    assert ("media.txt" in listed) is (status == 200)
    response = client.get(f"/cases/{case.reference}/evidence/{blob.sha256}")
    assert response.status_code == status
    viewed = [e for e in events(session, case) if e.type == EventType.evidence_viewed]
    assert len(viewed) == (1 if status == 200 else 0)


def test_child_safety_specialists_open_restricted_case_evidence(
    client, session, open_case, signed_in, add_evidence
):
    case = open_case("sexual/minors")
    blob = add_evidence(case, b"restricted media")
    assert blob.restricted
    signed_in("child_safety")
    response = client.get(f"/cases/{case.reference}/evidence/{blob.sha256}")
    assert response.status_code == 200 and response.data == b"restricted media"
    assert events(session, case)[-1].type == EventType.evidence_viewed
