"""Issue 13, item 1: every bad input is a clear 4xx with a message, never a 5xx, and writes
nothing. One test per kind of input, parametrized over where it can arrive."""

import base64
import json
import re
from collections import defaultdict
from typing import Any

import pytest
from sqlmodel import select

from cases.models import Case, Report, Subject
from tests.api.conftest import bearer, written
from tests.factories import make_case
from tests.helpers import count, post_report
from tests.intake.conftest import detection

NOTICE = {
    "category": "protect.threats",
    "location": "https://chat.example/c/8f14e45f",
    "explanation": "The assistant's user posted repeated threats against a named person.",
    "reporter_name": "Ada Reporter",
    "reporter_email": "ada@example.org",
    "good_faith": True,
    "subject": {"type": "account", "id": "acct-9", "contact": {"locale": "en"}},
}
SURROGATE = "\ud800"


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield


def send(client, url: str, body: Any, key: str | None = None):
    """POST `body` (an object, or exact text or bytes) as JSON."""
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {"Content-Type": "application/json", **(bearer(key) if key else {})}
    return client.post(url, data=data, headers=headers)


def refused(response, status: int) -> dict:
    """The error of a refusal with `status`: a code, a message and field messages."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert error["code"] and error["message"]
    assert all(isinstance(m, str) and m for m in error["fields"].values())
    return error


def string_paths(value: Any, path: str = "") -> list[tuple[str, tuple]]:
    """(JSON path, key path) of every string in `value`."""
    if isinstance(value, str):
        return [(path, ())]
    if isinstance(value, dict):
        members = [(f"{path}.{k}" if path else k, k, v) for k, v in value.items()]
    elif isinstance(value, list):
        members = [(f"{path}[{i}]", i, v) for i, v in enumerate(value)]
    else:
        return []
    return [
        (found, (key, *keys))
        for child, key, member in members
        for found, keys in string_paths(member, child)
    ]


def replaced(body: Any, keys: tuple, new: Any) -> Any:
    body = json.loads(json.dumps(body))
    target = body
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = new(target[keys[-1]])
    return body


# --- a wrong method on an HTML route -------------------------------------------------------------


def html_routes(app) -> dict[str, set[str]]:
    methods: dict[str, set[str]] = defaultdict(set)
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/static/")):
            methods[rule.rule] |= rule.methods
    return methods


@pytest.mark.parametrize("who", [None, "admin", "reviewer", "auditor"])
def test_every_html_route_answers_a_wrong_method_with_405(app, client, signed_in, who):
    if who:
        signed_in(who)
    routes = html_routes(app)
    assert len(routes) > 30
    for path, allowed in routes.items():
        url = re.sub(r"<[^>]+>", "1", path)
        method = next(m for m in ("POST", "GET", "DELETE") if m not in allowed)
        response = client.open(url, method=method)
        assert response.status_code == 405, (method, path, response.status_code)
        assert set(response.headers["Allow"].split(", ")) == allowed
        assert "not allowed" in response.get_data(as_text=True).lower()


@pytest.mark.parametrize(("method", "url"), [("GET", "/logout"), ("POST", "/my/some-token")])
def test_the_two_routes_that_gave_500_give_405(client, signed_in, method, url):
    signed_in("reviewer")
    assert client.open(url, method=method).status_code == 405


# --- a lone surrogate in any string --------------------------------------------------------------


@pytest.mark.parametrize(("path", "keys"), string_paths(detection("user-1")))
def test_a_lone_surrogate_in_any_string_of_a_detection_is_422(post_json, session, path, keys):
    before = written(session)
    body = replaced(detection("user-1"), keys, lambda text: text + SURROGATE)
    error = refused(post_json("/api/v1/detections", body), 422)
    assert "surrogate" in error["fields"][path]
    assert written(session) == before


@pytest.mark.parametrize(("path", "keys"), string_paths(NOTICE))
def test_a_lone_surrogate_in_any_string_of_a_notice_is_422(client, session, path, keys):
    body = replaced(NOTICE, keys, lambda text: SURROGATE + text)
    error = refused(send(client, "/api/v1/reports", body), 422)
    assert "surrogate" in error["fields"][path]
    assert written(session)["Report"] == 0


@pytest.mark.parametrize(
    ("url", "body", "path"),
    [
        ("/api/v1/detections", {**detection(), "metadata": {SURROGATE: 1}}, "metadata"),
        ("/api/v1/reports", {**NOTICE, "extra": [SURROGATE]}, "extra[0]"),
    ],
    ids=["detection-key", "notice-unknown-field"],
)
def test_a_lone_surrogate_in_a_key_or_an_unread_field_is_422(
    client, integration, session, url, body, path
):
    error = refused(send(client, url, body, integration[1]), 422)
    assert path in error["fields"]
    assert written(session)["Report"] == 0


# --- nesting -------------------------------------------------------------------------------------

DEEP = b"[" * 2000 + b"]" * 2000  # 4 KB
DEEP_IN_A_FIELD = json.dumps({**detection(), "metadata": {"x": "[]"}}).replace(
    '"[]"', "[" * 2000 + "]" * 2000
)


@pytest.mark.parametrize("body", [DEEP, DEEP_IN_A_FIELD, b'{"a":' * 65 + b"1" + b"}" * 65])
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/detections",
        "/api/v1/detections/batch",
        "/api/v1/reports",
        "/api/v1/cases/{ref}/transitions",
        "/api/v1/cases/{ref}/appeals",
    ],
)
def test_json_nested_too_deeply_is_400_before_any_handler(
    client, session, ctx, cases_key, integration, url, body
):
    case = make_case(session)
    session.commit()
    key = cases_key if "cases" in url else integration[1]
    error = refused(send(client, url.format(ref=case.reference), body, key), 400)
    assert "nested too deeply" in error["message"]
    assert written(session)["CaseEvent"] == 0 and written(session)["Report"] == 0


def test_nesting_up_to_the_limit_is_read(post_json, session):
    nested = json.dumps({**detection(), "metadata": {"x": "[]"}}).replace(
        '"[]"', '{"a":' * 60 + "1" + "}" * 60
    )
    assert post_json("/api/v1/detections", nested).status_code == 201


# --- times out of range --------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"])
def test_an_occurred_at_out_of_range_is_422(post_json, session, when):
    error = refused(post_json("/api/v1/detections", detection(occurred_at=when)), 422)
    assert "out of range" in error["fields"]["occurred_at"]
    assert written(session)["Report"] == 0


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_the_ends_of_the_range_are_taken(post_json, session, when):
    assert post_json("/api/v1/detections", detection(occurred_at=when)).status_code == 201


# --- one bad item in a batch ---------------------------------------------------------------------

BAD_ITEMS = [
    pytest.param(detection(occurred_at="0001-01-01T00:00:00+01:00"), "occurred_at", id="time"),
    pytest.param(detection("user-" + SURROGATE), "subject.id", id="surrogate"),
    pytest.param(
        {**detection(), "content": {"type": "chat", "excerpt": "a\x00b"}},
        "content.excerpt",
        id="nul",
    ),
    pytest.param({**detection(), "metadata": {SURROGATE: 1}}, "metadata", id="surrogate-key"),
    pytest.param(detection("x" * 201), "subject.id", id="long"),
]


@pytest.mark.parametrize(("bad", "path"), BAD_ITEMS)
def test_one_bad_item_fails_alone_in_the_207(post_json, session, bad, path):
    items = [detection("user-a"), bad, detection("user-b")]
    response = post_json("/api/v1/detections/batch", {"items": items})
    assert response.status_code == 207
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert list(results[1]["error"]["fields"]) == [f"items[1].{path}"]
    assert count(session, Report) == 2


# --- transition fields ---------------------------------------------------------------------------

STATEMENT = {
    "facts": "Threats on 3 May.",
    "automated_detection": False,
    "automated_decision": False,
    "ground": "Clause protect.threats.",
    "redress": "Appeal within six months.",
}
DECISION = {
    "policy_clause": "protect.threats",
    "restriction": "warn",
    "territorial_scope": ["worldwide"],
    "statement_of_reasons": STATEMENT,
}


@pytest.mark.parametrize(
    ("transition", "state", "fields", "path"),
    [
        ("information_received", "awaiting_information", {"answer": 1.5}, "fields.answer"),
        ("information_received", "awaiting_information", {"answer": 2**60}, "fields.answer"),
        ("information_received", "awaiting_information", {"answer": [0.5]}, "fields.answer"),
        ("information_received", "awaiting_information", {"answer": {"a": 1e-9}}, "fields.answer"),
        (
            "information_received",
            "awaiting_information",
            {"answer": "yes" + SURROGATE},
            "fields.answer",
        ),
        ("decide", "enforcement", {**DECISION, "duration_days": 2**60}, "fields.duration_days"),
        ("decide", "enforcement", {**DECISION, "duration_days": 7.0}, "fields.duration_days"),
        (
            "decide",
            "enforcement",
            {**DECISION, "statement_of_reasons": {**STATEMENT, "facts": 0.1}},
            "fields.statement_of_reasons.facts",
        ),
        (
            "decide",
            "enforcement",
            {**DECISION, "statement_of_reasons": {**STATEMENT, "weight": 0.9}},
            "fields.statement_of_reasons.weight",
        ),
    ],
)
def test_floats_huge_numbers_and_surrogates_in_transition_fields_are_422(
    client, session, ctx, cases_key, transition, state, fields, path
):
    case = make_case(session, state=state, stage="triage")
    session.commit()
    before = written(session)
    url = f"/api/v1/cases/{case.reference}/transitions"
    response = send(client, url, {"transition": transition, "fields": fields}, cases_key)
    assert path in refused(response, 422)["fields"]
    assert written(session) == before


@pytest.mark.parametrize(
    ("scope", "path"),
    [
        (5, "fields.territorial_scope"),
        ([[1]], "fields.territorial_scope[0]"),
        ("worldwide", "fields.territorial_scope"),
        ([], "fields.territorial_scope"),
        (["x" * 17], "fields.territorial_scope[0]"),
        (["DE"] * 61, "fields.territorial_scope"),
        ([None], "fields.territorial_scope[0]"),
    ],
)
def test_a_malformed_territorial_scope_in_a_decision_is_422(
    client, session, ctx, cases_key, scope, path
):
    case = make_case(session, state="enforcement", stage="enforcement")
    session.commit()
    body = {"transition": "decide", "fields": {**DECISION, "territorial_scope": scope}}
    url = f"/api/v1/cases/{case.reference}/transitions"
    error = refused(send(client, url, body, cases_key), 422)
    assert path in error["fields"]
    assert written(session)["CaseEvent"] == 0


# --- the cases list's cursor ---------------------------------------------------------------------


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "value",
    [
        cursor('{"id": 1e400}'),
        cursor('{"id": 1234567890123456789012345}'),
        cursor('{"id": 9223372036854775807}'),
        cursor('{"id": 2147483648}'),
        cursor('{"id": -1}'),
        cursor('{"id": true}'),
        cursor('{"id": 1.5}'),
        cursor('{"id": "12"}'),
        cursor("[" * 2000 + "]" * 2000),
        cursor('{"id": ' + "9" * 5000 + "}"),
        cursor("[1]"),
        "%00%ff",
    ],
)
def test_a_hostile_cursor_is_refused_with_a_message(client, session, ctx, cases_key, value):
    make_case(session)
    session.commit()
    error = refused(client.get(f"/api/v1/cases?cursor={value}", headers=bearer(cases_key)), 422)
    assert error["fields"] == {"cursor": "invalid"}
    assert "cursor" in error["message"]


def test_a_cursor_at_the_end_of_the_id_range_is_read(client, session, ctx, cases_key):
    case = make_case(session)
    session.commit()
    last = cursor('{"id": 2147483647}')
    response = client.get(f"/api/v1/cases?cursor={last}", headers=bearer(cases_key))
    assert response.status_code == 200
    assert [c["reference"] for c in response.get_json()["cases"]] == [case.reference]


# --- NUL in text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["explanation", "reporter_name", "location", "category", "reporter_email"]
)
def test_nul_in_a_notices_text_is_422_naming_the_field(client, session, field):
    body = {**NOTICE, field: NOTICE[field][:5] + "\x00" + NOTICE[field][5:]}
    error = refused(send(client, "/api/v1/reports", body), 422)
    assert field in error["fields"]
    assert written(session)["Report"] == 0


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        (p, k)
        for p, k in string_paths(detection("user-1"))
        if not p.startswith(("moderation", "metadata"))
    ],
)
def test_nul_in_a_detections_text_is_422_naming_the_field(post_json, session, path, keys):
    body = replaced(detection("user-1"), keys, lambda text: "\x00" + text)
    error = refused(post_json("/api/v1/detections", body), 422)
    assert path in error["fields"]
    assert written(session)["Report"] == 0


@pytest.mark.parametrize("field", ["explanation", "reporter_name", "account_id", "url"])
def test_the_public_form_refuses_nul_with_a_form_error(client, session, field):
    value = {"url": "https://social.example/posts/1\x00"}.get(field, "Ada\x00 Reporter")
    response = post_report(client, **{field: value})
    assert response.status_code == 400
    assert "control characters" in response.get_data(as_text=True)
    assert written(session)["Report"] == 0


# --- pydantic's one-pass reader and json.loads read a detection alike ---------------------------


@pytest.mark.parametrize(
    ("text", "status"),
    [
        (
            json.dumps(detection("user-dup"))[:-1]
            + ', "subject": {"type": "account", "id": "u2"}}',
            201,
        ),
        (json.dumps({**detection(), "metadata": {"n": 10**40}}), 201),
        (json.dumps({**detection(), "content": {"type": "NaN", "excerpt": "Infinity"}}), 201),
        (json.dumps({**detection(), "metadata": {"e": "\U0001f600"}}), 201),
        (json.dumps({**detection(), "metadata": {"n": float("-inf")}}), 400),
        (json.dumps({**detection(), "metadata": {"n": float("nan")}}), 400),
        ("\ufeff" + json.dumps(detection()), 400),
        (json.dumps(detection()).replace('"a user"', '"a\tuser"'), 400),
        (json.dumps(detection()) + " x", 400),
    ],
    ids=[
        "duplicate-key",
        "big-int",
        "words",
        "surrogate-pair",
        "-inf",
        "nan",
        "bom",
        "tab",
        "extra",
    ],
)
def test_the_one_pass_reader_reads_as_json_loads_does(post_json, session, text, status):
    response = post_json("/api/v1/detections", text.encode())
    assert response.status_code == status, response.get_json()
    if status == 201:
        report = session.get(Report, response.get_json()["report"]["id"])
        assert report.raw_payload == text
        subject = json.loads(text)["subject"]["id"]
        assert session.get(Case, report.case_id).subject_id is not None
        assert subject in {s.external_id for s in session.exec(select(Subject))}
    else:
        assert response.get_json()["error"]["code"] == "invalid_json"
        assert written(session)["Report"] == 0
