"""The auditor's workspace: who reaches it, finding cases, a case's whole trail, the chain of
custody, the log's state, and verifications and exports recorded as they are made."""

import io
import json
import re
import zipfile

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from cases.audit.signing import signer
from cases.enums import AccountEventType, EventType
from cases.models import AccountEvent
from cases.trail.erasure import erase_payload
from cases.trail.models import CaseEvent, Checkpoint, EventPayload
from cases.trail.store import append_event
from tests.audit.conftest import NCMEC_REPORT_ID, VIEW_REASON
from tests.factories import make_api_key, make_case, put_case
from tests.helpers import count, csrf_token, event_payloads, events, fresh
from tests.trail.tampering import tamper

ROUTES = [
    "/audit/",
    "/audit/cases/{ref}",
    "/audit/custody",
    "/audit/custody?case={ref}",
    "/audit/cases/{ref}/custody",
    "/audit/public-key.txt",
]
# Leads and admins hold view_audit; reviewers and child-safety specialists do not.
ROLES = [("auditor", 200), ("lead", 200), ("admin", 200), ("reviewer", 403), ("child_safety", 403)]


def newest_checkpoint(session) -> Checkpoint:
    return fresh(session).exec(select(Checkpoint).order_by(col(Checkpoint.id).desc())).first()


def text(response) -> str:
    return response.get_data(as_text=True)


def verify(client, reference: str = ""):
    token = csrf_token(client, "/audit/")
    return client.post(
        "/audit/verify", data={"verify-reference": reference, "verify-csrf_token": token}
    )


def export(client, reference: str):
    token = csrf_token(client, "/audit/")
    return client.post(
        "/audit/export", data={"export-reference": reference, "export-csrf_token": token}
    )


# --- who reaches what --------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("role", "status"), ROLES)
def test_staff_roles(client, session, audited, signed_in, route, role, status):
    signed_in(role)
    response = client.get(route.format(ref=audited.case.reference))
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("route", ROUTES)
def test_anonymous_and_api_keys_are_sent_to_sign_in(client, session, audited, route):
    _, key = make_api_key(session)
    session.commit()
    url = route.format(ref=audited.case.reference)
    for headers in ({}, {"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        response = client.get(url, headers=headers)
        assert response.status_code == 302, headers
        assert response.headers["Location"].startswith("/login")
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("route", ["/audit/cases/{ref}", "/audit/cases/{ref}/custody"])
def test_a_restricted_case_exists_only_for_those_cleared(client, session, signed_in, route):
    restricted = make_case(session, workflow="child_safety", restricted=True)
    append_event(session, case=restricted, type=EventType.note, actor="system:test")
    session.commit()
    url = route.format(ref=restricted.reference)
    signed_in("lead")
    assert client.get(url).status_code == 404
    assert restricted.reference not in text(client.get("/audit/"))
    signed_in("auditor")
    assert client.get(url).status_code == 200
    assert restricted.reference in text(client.get("/audit/"))


# --- finding cases -----------------------------------------------------------------------------


def test_filter_by_clause_and_state(client, session, signed_in):
    threat = put_case(session, clause="protect.threats", state="triage")
    other_clause = put_case(session, clause="privacy.doxxing", state="triage")
    other_state = put_case(session, clause="protect.threats", state="new")
    session.commit()
    signed_in("auditor")
    page = text(client.get("/audit/?clause=protect.threats&state=triage"))
    assert threat.reference in page
    assert other_clause.reference not in page and other_state.reference not in page


def test_search_by_reference_subject_and_report_text(client, session, signed_in):
    found = put_case(session, subject="acct-9911", explanation="He sent a bomb threat by email")
    other = put_case(session, subject="acct-2", explanation="Spam about watches")
    session.commit()
    signed_in("auditor")
    for query in (found.reference, "acct-9911", "bomb threat"):
        page = text(client.get("/audit/", query_string={"q": query}))
        assert found.reference in page and other.reference not in page, query
    assert "No case found" in text(client.get("/audit/?q=nothing+like+this"))
    # The search's filters narrow its hits too.
    page = text(client.get("/audit/", query_string={"q": "acct-9911", "state": "triage"}))
    assert found.reference not in page


HOSTILE_VALUES = [
    "9" * 40,
    str(2**63),
    "-1",
    "0",
    "1.5",
    "abc",
    "<script>alert(1)</script>",
    "x\x00y",
    "DK-2026-000001\x00",
    "x" * 10_240,
    "%",
    "é" * 300,
]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
@pytest.mark.parametrize(
    ("route", "name"),
    [
        ("/audit/", "q"),
        ("/audit/", "clause"),
        ("/audit/", "state"),
        ("/audit/", "after"),
        ("/audit/custody", "case"),
        ("/audit/custody", "after"),
        ("/audit/cases/{ref}/custody", "after"),
    ],
)
def test_hostile_query_values(client, session, open_case, signed_in, route, name, value):
    case = open_case()
    signed_in("auditor")
    response = client.get(route.format(ref=case.reference), query_string={name: value})
    page = text(response)
    assert response.status_code < 500
    assert "<script>alert(1)</script>" not in page
    if response.status_code == 200:
        # Accepted as a search that finds nothing: no case listed below the form.
        assert 'href="/audit/cases/' not in page.split("</form>")[-1]
    else:
        assert 400 <= response.status_code < 500
        assert 'class="error"' in page


@pytest.mark.parametrize("raw", [b"q=%FF%FE", b"after=%FF", b"case=%C0%AF"])
def test_query_strings_that_are_not_utf8(client, session, signed_in, raw):
    signed_in("auditor")
    for route in ("/audit/", "/audit/custody"):
        response = client.get(route + "?" + raw.decode("ascii"))
        assert response.status_code < 500


@pytest.mark.parametrize(
    "path", ["/audit/cases/" + "x" * 10_240, "/audit/cases/DK%00", "/audit/cases/%3Cb%3E/custody"]
)
def test_hostile_case_references_in_the_path(client, session, signed_in, path):
    signed_in("auditor")
    response = client.get(path)
    assert response.status_code in (400, 404)


# --- a case's whole trail ----------------------------------------------------------------------


def test_the_case_page_shows_every_event_and_no_way_to_change_it(
    client, session, audited, signed_in
):
    case = audited.case
    signed_in("auditor")
    page = text(client.get(f"/audit/cases/{case.reference}"))
    trail = events(session, case)
    assert len(trail) >= 5
    for event in trail:
        assert f'id="event-{event.seq}"' in page
        assert f"<code>{event.type}</code>" in page
    assert VIEW_REASON in page  # the payload, recorded data and all
    assert audited.viewer.email in page  # actors by name
    assert "chain verified" in page
    # Read-only: its only forms are the recorded verification and export, and signing out.
    actions = set(re.findall(r'<form method="post" action="([^"]+)"', page))
    assert actions == {"/audit/verify", "/audit/export", "/logout"}


def test_erased_payloads_show_as_erased(client, session, audited, signed_in):
    erase_payload(session, case=audited.case, actor="system:retention", reason="retention ended")
    session.commit()
    signed_in("auditor")
    page = text(client.get(f"/audit/cases/{audited.case.reference}"))
    assert "payload erased" in page and VIEW_REASON not in page
    assert "chain verified" in page


# --- custody -----------------------------------------------------------------------------------


def custody_rows(page: str) -> list[str]:
    body = page.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in page else ""
    return re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)


def test_custody_names_who_viewed_exported_and_reported_each_file(
    client, session, audited, signed_in
):
    signed_in("auditor")
    for url in ("/audit/custody", f"/audit/cases/{audited.case.reference}/custody"):
        rows = custody_rows(text(client.get(url)))
        assert [re.search(r"<td>(Viewed|Exported|Reported to NCMEC)</td>", r)[1] for r in rows] == [
            "Reported to NCMEC",
            "Exported",
            "Viewed",
        ]
        reported, exported, viewed = rows
        for row in rows:
            assert audited.blob.sha256 in row and "threat.txt" in row
        assert audited.viewer.email in viewed and VIEW_REASON in viewed and "reviewer" in viewed
        assert audited.exporter.email in exported and "earlier-export.zip" in exported
        assert NCMEC_REPORT_ID in reported and "system:ncmec" in reported


def test_custody_of_one_case_leaves_out_the_others(client, session, audited, signed_in, open_case):
    other = open_case(subject="acct-other")
    signed_in("auditor")
    assert export(client, other.reference).status_code == 200
    everything = text(client.get("/audit/custody"))
    assert other.reference in everything and audited.case.reference in everything
    one = text(client.get(f"/audit/custody?case={audited.case.reference}"))
    assert other.reference not in one.split("</form>")[-1]
    assert len(custody_rows(one)) == 3


def test_custody_of_a_restricted_case_is_hidden_from_a_lead(client, session, signed_in):
    restricted = make_case(session, workflow="child_safety", restricted=True)
    append_event(
        session,
        case=restricted,
        type=EventType.exported,
        actor="operator:root",
        payload={"bundle": "secret-bundle.zip", "withheld": 0},
    )
    session.commit()
    signed_in("lead")
    assert "secret-bundle.zip" not in text(client.get("/audit/custody"))
    assert client.get(f"/audit/custody?case={restricted.reference}").status_code == 404
    signed_in("auditor")
    assert "secret-bundle.zip" in text(client.get("/audit/custody"))


def test_an_unknown_case_in_the_filter_is_a_404_beside_the_field(client, session, signed_in):
    signed_in("auditor")
    response = client.get("/audit/custody?case=DK-2026-999999")
    assert response.status_code == 404 and 'id="case-error"' in text(response)


# --- the log -----------------------------------------------------------------------------------


def test_the_log_state_and_how_to_pin_the_key(client, session, audited, signed_in):
    signed_in("auditor")
    page = text(client.get("/audit/"))
    latest = newest_checkpoint(session)
    assert latest.root in page and f"size {latest.size}" in page
    assert latest.note.splitlines()[-1] in page  # the signed note itself, signature and all
    assert signer().verifier_key in page
    assert "flask --app app trail public-key &gt; docket.pub" in page
    assert "python -m cases.trail.verify BUNDLE.zip --public-key docket.pub" in page
    assert "--previous-checkpoint" in page


def test_the_log_before_any_checkpoint(client, session, signed_in):
    signed_in("auditor")
    page = text(client.get("/audit/"))
    assert "No checkpoint signed yet" in page and "0 entries" in page


# --- verification ------------------------------------------------------------------------------


def test_verifying_a_case_is_recorded_on_its_trail(client, session, audited, signed_in):
    auditor = signed_in("auditor")
    before = count(session, CaseEvent)
    page = text(verify(client, audited.case.reference))
    assert "PASS" in page and "Every check passed" in page
    assert "cases: 1 chains" in page
    recorded = event_payloads(fresh(session), audited.case.id, EventType.verified)
    assert len(recorded) == 1
    header, payload = recorded[0]
    assert header["actor"] == f"user:{auditor.id}"
    latest = newest_checkpoint(session)
    checks = len(re.findall("<li>", page.split('class="verify-result"')[1].split("</ul>")[0]))
    assert checks >= 4
    assert payload == {
        "result": "ok",
        "checks": checks,
        "log_size": before,
        "checkpoint_size": latest.size,
        "root": latest.root,
    }


def test_verifying_the_whole_trail_is_an_account_event(client, session, audited, signed_in):
    auditor = signed_in("auditor")
    trail_before = count(session, CaseEvent)
    page = text(verify(client))
    assert "the whole trail" in page and "PASS" in page
    fresh(session)
    assert count(session, CaseEvent) == trail_before  # no case's chain is the whole trail's
    recorded = session.exec(
        select(AccountEvent).where(AccountEvent.type == AccountEventType.trail_verified)
    ).all()
    assert len(recorded) == 1
    assert recorded[0].actor_id == auditor.id
    assert recorded[0].detail["ok"] is True and recorded[0].detail["log_size"] == trail_before


def test_a_failed_verification_shows_the_first_failure_and_is_recorded(
    client, session, audited, signed_in
):
    viewed = events(session, audited.case, EventType.evidence_viewed)[0]
    tamper(
        session,
        sa.update(EventPayload).where(EventPayload.event_id == viewed.id).values(payload="{}"),
    )
    signed_in("auditor")
    response = verify(client, audited.case.reference)
    page = text(response)
    assert response.status_code == 200 and "FAIL" in page and "first check that failed" in page
    assert f"event {viewed.seq}: payload does not match its commitment" in page
    _, payload = event_payloads(fresh(session), audited.case.id, EventType.verified)[-1]
    assert payload["result"] == "failed" and "commitment" in payload["failure"]
    whole = text(verify(client))
    assert "FAIL" in whole
    detail = (
        fresh(session)
        .exec(
            select(AccountEvent.detail).where(AccountEvent.type == AccountEventType.trail_verified)
        )
        .one()
    )
    assert detail["ok"] is False and "commitment" in detail["failure"]


@pytest.mark.parametrize("reference", ["x" * 10_240, "DK\x00", "<b>DK</b>", "DK-2026-999999"])
def test_hostile_references_verify_and_export_nothing(
    client, session, audited, signed_in, reference
):
    signed_in("auditor")
    trail, accounts = count(session, CaseEvent), count(session, AccountEvent)
    for response in (verify(client, reference), export(client, reference)):
        assert 400 <= response.status_code < 500
        assert "<b>DK</b>" not in text(response)
    fresh(session)
    assert (count(session, CaseEvent), count(session, AccountEvent)) == (trail, accounts)


# --- export ------------------------------------------------------------------------------------


def test_the_bundle_says_how_to_verify_it_offline_and_is_recorded(
    client, session, audited, signed_in
):
    auditor = signed_in("auditor")
    response = export(client, audited.case.reference)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as bundle:
        readme = bundle.read("README.txt").decode()
    assert "python -m cases.trail.verify BUNDLE --public-key KEYFILE" in readme
    assert "flask --app app trail public-key > KEYFILE" in readme
    assert "--previous-checkpoint" in readme
    header, payload = event_payloads(fresh(session), audited.case.id, EventType.exported)[-1]
    assert header["actor"] == f"user:{auditor.id}"
    assert header["blobs"] == [audited.blob.sha256]
    assert payload["bundle"] == f"{audited.case.reference}-evidence.zip"


def test_a_trail_that_fails_verification_is_not_exported(client, session, audited, signed_in):
    viewed = events(session, audited.case, EventType.evidence_viewed)[0]
    tamper(
        session,
        sa.update(EventPayload)
        .where(EventPayload.event_id == viewed.id)
        .values(payload=json.dumps({"reason": "edited"})),
    )
    signed_in("auditor")
    before = count(session, CaseEvent)
    response = export(client, audited.case.reference)
    assert response.status_code == 409
    assert "Refusing to export" in text(response)
    fresh(session)
    assert count(session, CaseEvent) == before
