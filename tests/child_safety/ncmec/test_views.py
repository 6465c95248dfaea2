"""The CyberTipline report page: who may see and work it, the specialist's way from draft to
receipt, and hostile form input (a clear 4xx or a form error, never a 5xx, nothing written)."""

import pytest
from sqlmodel import func, select

from cases.child_safety.ncmec.service import report_panel
from cases.core.sqltypes import utcnow
from cases.enums import NcmecStatus
from cases.models import NcmecReport
from cases.trail.models import CaseEvent
from tests.child_safety.ncmec.conftest import reports
from tests.factories import make_api_key
from tests.helpers import csrf_token, fresh, reloaded

ROUTES = ["prepare", "draft", "submit"]


def url(case, route: str = "") -> str:
    return f"/cases/{case.reference}/ncmec" + (f"/{route}" if route else "")


def token(client) -> str:
    return csrf_token(client, "/login")


def written(session) -> tuple[int, int]:
    fresh(session)
    return (
        session.exec(select(func.count()).select_from(NcmecReport)).one(),
        session.exec(select(func.count()).select_from(CaseEvent)).one(),
    )


def draft_form(case_report, **changes) -> dict:
    """The draft page's form as a browser sends it, from the stored draft."""
    form = {
        "incident_type": "Online Enticement of Children for Sexual Acts",
        "incident_at": "2026-01-10T04:30:00-05:00",
        "description": case_report.description,
        "additional_info": "The account was suspended.",
    }
    for index, entry in enumerate(case_report.files):
        form[f"files-{index}-sha256"] = entry["sha256"]
        form[f"files-{index}-include"] = "y"
        form[f"files-{index}-relevance"] = "Reported"
        form[f"files-{index}-classification"] = ""
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


# --- who may see and work it -------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client, session, child_case):
    case = child_case()
    before = written(session)
    assert client.get(url(case)).status_code == 302
    for route in ROUTES:
        response = client.post(url(case, route), data={"csrf_token": token(client)})
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert written(session) == before


def test_an_api_key_does_not_open_the_page(client, session, child_case):
    case = child_case()
    _key, secret = make_api_key(session)
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    response = client.get(url(case), headers=headers)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get(url(case, "receipt.xml"), headers=headers).status_code == 302


@pytest.mark.parametrize("role", ["reviewer", "lead"])
def test_roles_not_cleared_for_child_safety_find_no_such_case(
    client, session, child_case, drafted, signed_in, role
):
    case, _ = drafted(child_case())
    signed_in(role)
    before = written(session)
    assert client.get(url(case)).status_code == 404
    assert client.get(url(case, "receipt.xml")).status_code == 404
    for route in ROUTES:
        response = client.post(url(case, route), data={"csrf_token": token(client), "note": "x"})
        assert response.status_code == 404
    assert written(session) == before


def test_auditors_read_the_report_and_change_nothing(
    client, session, child_case, drafted, signed_in
):
    case, _ = drafted(child_case())
    signed_in("auditor")
    page = client.get(url(case))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Draft" in html and 'action="/cases/' not in html  # no forms
    before = written(session)
    for route in ROUTES:
        response = client.post(url(case, route), data={"csrf_token": token(client), "note": "x"})
        assert response.status_code == 403
    assert written(session) == before


@pytest.mark.parametrize("role", ["child_safety", "admin"])
def test_specialists_and_admins_see_the_page(client, child_case, signed_in, role):
    case = child_case()
    signed_in(role)
    response = client.get(url(case))
    assert response.status_code == 200
    assert "Prepare the draft" not in response.get_data(as_text=True)  # not while it is new
    assert response.headers["Cache-Control"] == "no-store"


def test_a_standard_case_has_no_report_page(client, open_case, signed_in):
    case = open_case("harassment")
    signed_in("child_safety")
    assert client.get(url(case)).status_code == 404
    assert client.get("/cases/DK-2099-999999/ncmec").status_code == 404


# --- from draft to receipt ---------------------------------------------------------------------


def test_a_specialist_prepares_edits_and_submits_the_report(
    app, client, session, fake, child_case, evidence, take_up, signed_in
):
    case = child_case()
    evidence(case, b"\x89PNG one", filename="one.png")
    evidence(case, b"\x89PNG two", filename="two.png")
    specialist = signed_in("child_safety")
    take_up(case)  # the signed-in specialist (same role and name) starts and claims it
    assert reloaded(session, case).assignee_id == specialist.id

    page = client.get(url(case)).get_data(as_text=True)
    assert "Prepare the draft" in page
    response = client.post(
        url(case, "prepare"),
        data={"csrf_token": token(client), "note": "Apparent grooming of a minor."},
    )
    assert response.status_code == 303
    assert reloaded(session, case).state == "report_drafted"
    [draft] = reports(session, case)
    assert [f["include"] for f in draft.files] == [True, True]

    form = draft_form(draft, **{"files-1-include": None, "files-0-annotations": "generativeAi"})
    response = client.post(url(case, "draft"), data={"csrf_token": token(client), **form})
    assert response.status_code == 303, response.get_data(as_text=True)
    [draft] = reports(session, case)
    assert draft.incident_type == "Online Enticement of Children for Sexual Acts"
    assert draft.incident_at.isoformat() == "2026-01-10T09:30:00+00:00"
    assert [f["include"] for f in draft.files] == [True, False]
    assert draft.files[0]["annotations"] == ["generativeAi"]

    response = client.post(url(case, "submit"), data={"csrf_token": token(client), "confirm": "y"})
    assert response.status_code == 303
    assert reloaded(session, case).state == "reported"
    [sent] = fake.finished()
    assert [f.filename for f in sent.files.values()] == ["one.png"]

    page = client.get(url(case)).get_data(as_text=True)
    assert "Finished: received by NCMEC" in page and "&lt;reportDoneResponse&gt;" in page
    receipt = client.get(url(case, "receipt.xml"))
    assert receipt.status_code == 200 and receipt.data.startswith(b"<?xml")
    assert "attachment" in receipt.headers["Content-Disposition"]
    assert reports(session, case)[0].receipt.encode() == receipt.data


def test_submitting_without_the_reporter_email_shows_why_and_sends_nothing(
    app, client, session, fake, child_case, drafted, signed_in
):
    specialist = signed_in("child_safety")
    case, _ = drafted(child_case())
    assert reloaded(session, case).assignee_id == specialist.id
    app.config["NCMEC_REPORTER_EMAIL"] = ""
    page = client.get(url(case)).get_data(as_text=True)
    assert "NCMEC_REPORTER_EMAIL is not set" in page
    before = written(session)
    response = client.post(url(case, "submit"), data={"csrf_token": token(client), "confirm": "y"})
    assert response.status_code == 409
    assert "set NCMEC_REPORTER_EMAIL in the configuration" in response.get_data(as_text=True)
    assert written(session) == before and fake.calls == []
    assert reloaded(session, case).state == "report_drafted"


# --- hostile input -----------------------------------------------------------------------------

HOSTILE_DRAFTS = [
    {"incident_type": "Child Pornography"},
    {"incident_type": "<script>alert(1)</script>"},
    {"incident_type": None},
    {"incident_at": "2999-01-01T00:00:00+00:00"},
    {"incident_at": "2026-01-10T04:30:00"},
    {"incident_at": "yesterday"},
    {"incident_at": "\x00"},
    {"description": ""},
    {"description": "a\x00b"},
    {"description": "x" * 20_001},
    {"additional_info": "y" * 10_001},
    {"files-0-sha256": "not-a-hash"},
    {"files-0-sha256": "'; DROP TABLE ncmec_report; --"},
    {"files-0-relevance": "Everything"},
    {"files-0-classification": "Z9"},
    {"files-0-annotations": "isItFake"},
    {"files-1-sha256": None, "files-1-include": None, "files-5-sha256": "0" * 64},
]


@pytest.mark.parametrize("changes", HOSTILE_DRAFTS)
def test_hostile_draft_input_is_a_form_error_and_nothing_is_written(
    client, session, child_case, evidence, drafted, signed_in, changes
):
    signed_in("child_safety")
    case = child_case()
    evidence(case, b"\x89PNG one", filename="one.png")
    evidence(case, b"\x89PNG two", filename="two.png")
    case, _ = drafted(case)
    [draft] = reports(session, case)
    before = written(session)
    form = draft_form(draft, **changes)
    response = client.post(url(case, "draft"), data={"csrf_token": token(client), **form})
    assert response.status_code in (409, 422)
    assert written(session) == before
    assert reports(session, case)[0].updated_at == draft.updated_at


def test_a_file_that_is_not_evidence_of_the_case_is_refused(
    client, session, child_case, evidence, drafted, signed_in
):
    signed_in("child_safety")
    case = child_case()
    evidence(case, b"\x89PNG one", filename="one.png")
    case, _ = drafted(case)
    other = child_case("acct-other")
    foreign = evidence(other, b"\x89PNG elsewhere", filename="elsewhere.png")
    [draft] = reports(session, case)
    before = written(session)
    twice = draft_form(draft, **{"files-1-sha256": draft.files[0]["sha256"]})
    response = client.post(url(case, "draft"), data={"csrf_token": token(client), **twice})
    assert response.status_code == 422 and "Each file may appear once" in response.get_data(
        as_text=True
    )
    form = draft_form(draft, **{"files-0-sha256": foreign})
    response = client.post(url(case, "draft"), data={"csrf_token": token(client), **form})
    assert response.status_code == 409
    assert "not evidence of this case" in response.get_data(as_text=True)
    assert written(session) == before


def test_forms_without_their_token_or_confirmation_are_refused(
    client, session, child_case, drafted, signed_in
):
    signed_in("child_safety")
    case, _ = drafted(child_case())
    [draft] = reports(session, case)
    before = written(session)
    assert client.post(url(case, "draft"), data=draft_form(draft)).status_code == 400
    response = client.post(url(case, "submit"), data={"csrf_token": token(client)})
    assert response.status_code == 422 and "Confirm that you reviewed" in response.get_data(
        as_text=True
    )
    response = client.post(url(case, "prepare"), data={"csrf_token": token(client), "note": ""})
    assert response.status_code == 422
    assert written(session) == before


def test_work_on_a_case_someone_else_holds_or_in_the_wrong_state_is_refused(
    client, session, child_case, drafted, take_up, signed_in
):
    case, _holder = drafted(child_case(), note="Reportable.")
    fresh_case = child_case("acct-unclaimed")
    take_up(fresh_case, "a third")
    signed_in("child_safety", "someone else")
    [draft] = reports(session, case)
    before = written(session)
    response = client.post(
        url(case, "draft"), data={"csrf_token": token(client), **draft_form(draft)}
    )
    assert response.status_code == 409 and "claim the case first" in response.get_data(as_text=True)
    response = client.post(
        url(case, "prepare"), data={"csrf_token": token(client), "note": "again"}
    )
    assert response.status_code == 409 and "already has a report" in response.get_data(as_text=True)
    response = client.post(
        url(fresh_case, "prepare"), data={"csrf_token": token(client), "note": "Mine now."}
    )
    assert response.status_code == 409 and "claim the case first" in response.get_data(as_text=True)
    assert written(session) == before
    assert reports(session, case)[0].status == NcmecStatus.draft


def test_the_case_page_panel_links_to_the_report(app, session, child_case, drafted, staff):
    case, specialist = drafted(child_case())
    panel = report_panel(session, case=case, viewer=specialist, now=utcnow())
    with app.test_request_context():
        html = app.jinja_env.get_template("child_safety/_case_ncmec.html").render(ncmec=panel)
    assert f'href="/cases/{case.reference}/ncmec"' in html and "Review and submit the draft" in html
    assert report_panel(session, case=case, viewer=staff("reviewer"), now=utcnow()) is None
