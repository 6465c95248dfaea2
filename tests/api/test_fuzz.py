"""Random JSON values at every field of the API's write endpoints: the answer is always a 2xx or
a 4xx with a message, never a 5xx, and a 4xx writes nothing (issue 13)."""

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import bearer, written
from tests.api.test_errors import DECISION, NOTICE
from tests.factories import make_case
from tests.intake.conftest import detection

# Values that broke the API before (issue 13), drawn as often as all the random ones together.
SPECIAL = st.sampled_from(
    ["", " ", "\x00", "\ud800", "a\udfff", "x" * 25_000, "é" * 201, 2**60, -(2**63) - 1, 1e-300]
)
scalars = SPECIAL | (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=()), max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=()), max_size=8), children, max_size=4
        )
    ),
    max_leaves=10,
)
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def with_value(body: dict, path: str, value: Any) -> Any:
    """`body` with the member at `path` (dotted; `[0]` for a list index) set to `value`."""
    if not path:
        return value
    body = json.loads(json.dumps(body))
    keys = [
        int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")
    ]
    target = body
    for key in keys[:-1]:
        target = target[key] if isinstance(key, int) else target.setdefault(key, {})
    target[keys[-1]] = value
    return body


def valid_unicode(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check(status: int, answer: dict, before: dict, after: dict, body: Any) -> None:
    """Never a 5xx; a 4xx explains itself and writes nothing; nothing taken holds a string no
    UTF-8 text (nor PostgreSQL) can hold."""
    assert status < 500, answer
    if status >= 400:
        error = answer["error"]
        assert error["message"] and all(error["fields"].values())
        assert after == before
    else:
        assert valid_unicode(body)


DETECTION_PATHS = [
    "",
    "subject",
    "subject.type",
    "subject.id",
    "subject.display",
    "subject.contact",
    "subject.contact.email",
    "subject.contact.locale",
    "source",
    "source.name",
    "moderation",
    "moderation.results",
    "moderation.results[0]",
    "moderation.results[0].flagged",
    "moderation.results[0].categories",
    "moderation.results[0].category_scores",
    "moderation.results[0].category_scores.harassment",
    "moderation.results[0].category_scores.future-category",
    "content",
    "content.type",
    "content.ref",
    "content.sha256",
    "occurred_at",
    "metadata",
    "unknown",
]


@pytest.mark.parametrize("path", DETECTION_PATHS)
@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_detections_take_any_json_at_any_field(post_json, session, path, batch):
    @FUZZ
    @given(value=json_values)
    def run(value):
        body = with_value(detection(), path, value)
        before = written(session)
        if batch:
            response = post_json("/api/v1/detections/batch", {"items": [body]})
            answer = response.get_json()
            if response.status_code == 207:
                [answer] = answer["results"]  # the item is judged as a request of its own
            status = answer.get("status", response.status_code)
        else:
            response = post_json("/api/v1/detections", json.dumps(body))
            status, answer = response.status_code, response.get_json()
        check(status, answer, before, written(session), body)

    run()


NOTICE_PATHS = [
    "",
    "category",
    "location",
    "explanation",
    "reporter_name",
    "reporter_email",
    "good_faith",
    "subject",
    "subject.id",
    "subject.contact",
]


@pytest.mark.parametrize("path", NOTICE_PATHS)
def test_notices_take_any_json_at_any_field(client, session, path):
    @FUZZ
    @given(value=json_values)
    def run(value):
        body = with_value(NOTICE, path, value)
        before = written(session)
        response = client.post(
            "/api/v1/reports", data=json.dumps(body), content_type="application/json"
        )
        check(response.status_code, response.get_json(), before, written(session), body)

    run()


TRANSITION_PATHS = [
    ("information_received", "awaiting_information", {"answer": "At 3 pm."}, path)
    for path in ("", "transition", "fields", "fields.answer", "fields.note")
] + [
    ("decide", "enforcement", DECISION, f"fields.{name}")
    for name in (
        "policy_clause",
        "restriction",
        "duration_days",
        "territorial_scope",
        "statement_of_reasons",
        "statement_of_reasons.facts",
        "statement_of_reasons.automated_detection",
        "statement_of_reasons.ground_kind",
        "statement_of_reasons.legal_ground",
    )
]


@pytest.mark.parametrize(("transition", "state", "fields", "path"), TRANSITION_PATHS)
def test_transitions_take_any_json_at_any_field(
    app, client, session, cases_key, transition, state, fields, path
):
    with app.test_request_context():
        case = make_case(session, state=state, stage="triage")
    session.commit()
    url = f"/api/v1/cases/{case.reference}/transitions"

    @FUZZ
    @given(value=json_values)
    def run(value):
        body = with_value({"transition": transition, "fields": fields}, path, value)
        before = written(session)
        response = client.post(
            url,
            data=json.dumps(body),
            headers={"Content-Type": "application/json", **bearer(cases_key)},
        )
        check(response.status_code, response.get_json(), before, written(session), body)

    run()
