"""POST /api/v1/reports: a public notice of misuse (DSA Art. 16) in JSON, without an account."""

import json
from urllib.parse import urlsplit

import pytest
from sqlmodel import select

from cases.enums import AppellantKind, ReportSource
from cases.intake.public_reports import PublicReport
from cases.models import Case, Report, Subject
from cases.portal.links import read_link
from tests.helpers import count, fresh, post_report, written

URL = "/api/v1/reports"


def notice(**overrides) -> dict:
    body = {
        "category": "protect.threats",
        "location": "https://chat.example/c/8f14e45f",
        "explanation": "The assistant's user posted repeated threats against a named person.",
        "reporter_name": "Ada Reporter",
        "reporter_email": "Ada@Example.org",
        "good_faith": True,
    }
    body.update(overrides)
    return {name: value for name, value in body.items() if value is not None}


def send(client, body, **kwargs):
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post(URL, data=text, content_type="application/json", **kwargs)


def test_a_notice_gets_a_reference_and_a_private_status_link(app, client, session):
    body = notice()
    text = json.dumps(body, indent=1)
    response = send(client, text)

    assert response.status_code == 201
    answer = response.get_json()
    assert set(answer) == {"reference", "status_url", "received_at", "lacks_notice_contact"}
    report = session.exec(select(Report)).one()
    case = session.get(Case, report.case_id)
    assert answer["reference"] == case.reference and answer["lacks_notice_contact"] is False
    link = read_link(session, urlsplit(answer["status_url"]).path.rsplit("/", 1)[-1])
    assert link.holder == AppellantKind.reporter
    assert (link.case_id, link.report_id) == (case.id, report.id)
    assert report.source == ReportSource.user_report and report.good_faith
    assert report.raw_payload == text and report.location == body["location"]
    assert report.reporter_email == "Ada@example.org" and report.policy_clause == body["category"]
    subject = session.get(Subject, case.subject_id)
    assert (subject.kind, subject.external_id) == ("content", body["location"])


def test_a_notice_without_contact_is_accepted_but_marked(client, session):
    response = send(client, notice(reporter_name=None, reporter_email=None))

    assert response.status_code == 201 and response.get_json()["lacks_notice_contact"] is True
    assert session.exec(select(Report.lacks_notice_contact)).one() is True


@pytest.mark.parametrize("category", ["minors.csam", "minors.grooming"])
def test_child_safety_notices_need_no_contact_and_open_a_restricted_case(client, session, category):
    response = send(client, notice(category=category, reporter_name=None, reporter_email=None))

    assert response.status_code == 201 and response.get_json()["lacks_notice_contact"] is False
    case = session.exec(select(Case)).one()
    assert case.workflow_name == "child_safety" and case.restricted


def test_notices_about_a_named_subject_group_on_it(client, session):
    account = {"type": "account", "id": "acct-991"}
    first = send(client, notice(subject=account, location="https://chat.example/c/1"))
    second = send(
        client,
        notice(subject=account, location="https://chat.example/c/2", reporter_email="b@x.org"),
    )

    assert first.get_json()["reference"] == second.get_json()["reference"]
    case = session.exec(select(Case)).one()
    # One client, whatever email it gives, is one (anonymous) reporter.
    assert (case.report_count, case.reporter_count) == (2, 1)


def test_a_long_location_is_identified_by_its_hash(client, session):
    location = "https://chat.example/" + "x" * 300
    assert send(client, notice(location=location)).status_code == 201
    subject = session.exec(select(Subject)).one()
    assert subject.external_id.startswith("sha256:") and len(subject.external_id) == 71


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        pytest.param([], {"body"}, id="not-an-object"),
        pytest.param({}, {"category", "location", "explanation", "good_faith"}, id="empty"),
        pytest.param(notice(category="protect.nonsense"), {"category"}, id="unknown-category"),
        pytest.param(notice(location=" "), {"location"}, id="blank-location"),
        pytest.param(notice(location="x" * 2001), {"location"}, id="long-location"),
        pytest.param(notice(explanation=None), {"explanation"}, id="no-explanation"),
        pytest.param(notice(good_faith=False), {"good_faith"}, id="bad-faith"),
        pytest.param(notice(good_faith="true"), {"good_faith"}, id="good-faith-text"),
        pytest.param(notice(reporter_email="not-an-address"), {"reporter_email"}, id="email"),
        pytest.param(notice(reporter_name=7), {"reporter_name"}, id="name"),
        pytest.param(
            notice(subject={"type": "galaxy", "id": "x"}), {"subject.type"}, id="subject-type"
        ),
        pytest.param(notice(subject="acct-1"), {"subject"}, id="subject-not-object"),
    ],
)
def test_invalid_notices_are_422_with_field_paths(client, session, body, fields):
    response = send(client, body)

    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == fields
    assert count(session, Report) == 0


def test_a_notice_must_be_json(client):
    response = client.post(URL, data=notice(), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


@pytest.mark.parametrize(
    "config_overrides", [{"RATELIMIT_ENABLED": True, "RATELIMIT_PUBLIC": "2 per minute"}]
)
def test_notices_are_rate_limited_per_client(client, session):
    first_client = {"REMOTE_ADDR": "192.0.2.10"}
    statuses = [send(client, notice(), environ_base=first_client).status_code for _ in range(3)]
    other = send(client, notice(), environ_base={"REMOTE_ADDR": "192.0.2.11"})

    assert statuses == [201, 201, 429] and other.status_code == 201
    limited = send(client, notice(), environ_base=first_client)
    assert limited.get_json()["error"]["code"] == "too_many_requests"
    assert count(session, Report) == 3


def test_the_form_and_the_api_take_a_notice_in_through_one_service(client, session):
    location = "https://social.example/posts/" + "9" * 300  # long: identified by its hash
    text = json.dumps(notice(location=location), indent=1)

    assert post_report(client, url=location, account_id="").status_code == 302
    assert send(client, text).status_code == 201

    fresh(session)
    subject = session.exec(select(Subject)).one()
    assert (subject.kind, subject.external_id[:7], subject.display) == (
        "content",
        "sha256:",
        location[:200],
    )
    case = session.exec(select(Case)).one()
    assert (case.subject_id, case.report_count, case.policy_clause) == (
        subject.id,
        2,
        "protect.threats",
    )
    form, api = session.exec(select(Report).order_by(Report.id)).all()
    assert form.policy_clause == api.policy_clause == "protect.threats"
    assert form.location == api.location == location
    # Each keeps its own record: the API the body it was sent, the form its rendering.
    assert api.raw_payload == text
    assert json.loads(form.raw_payload)["url"] == location


def test_a_notice_without_a_location_is_refused_by_both_in_the_service_words(client, session):
    (missing,) = PublicReport(
        category="protect.threats", explanation="Threats.", good_faith=True
    ).problems()

    form = post_report(client, url="", account_id="")
    api = send(client, notice(location=None))

    assert missing.field == "url"
    assert (form.status_code, api.status_code) == (400, 422)
    assert f'<p class="error" id="url-error">{missing}</p>' in form.get_data(as_text=True)
    assert api.get_json()["error"]["fields"] == {"location": str(missing)}
    assert written(session) == (0, 0, 0)
