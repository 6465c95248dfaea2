"""The OpenAPI document: valid OpenAPI 3.1, every body described by a real schema generated from
the models the API validates with, and real requests and answers holding to it."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from cases.api.openapi import MODELS, REF
from cases.intake.moderation import ModerationFormatError, parse_moderation
from tests.api.conftest import bearer
from tests.api.test_errors import DECISION, NOTICE, STATEMENT
from tests.factories import make_case
from tests.intake.conftest import detection, moderation_response


@pytest.fixture
def document(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()


def holds(document: dict, name: str, value) -> list[str]:
    """How `value` fails the document's schema `name` (empty: it holds)."""
    schema = {"$ref": REF.format(model=name), "components": document["components"]}
    return [e.message for e in Draft202012Validator(schema).iter_errors(value)]


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_body_has_a_real_schema(document):
    schemas = document["components"]["schemas"]
    bodies = 0
    for name, operation in operations(document):
        contents = [operation.get("requestBody", {}).get("content", {})] + [
            answer.get("content", {}) for answer in operation["responses"].values()
        ]
        for media, content in ((m, c) for each in contents for m, c in each.items()):
            schema = content["schema"]
            if media == "text/plain":
                continue
            bodies += 1
            assert schema != {"type": "object"}, name
            target = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            assert target["type"] == "object" and target["properties"], name
    assert bodies > 40
    for name in ("/detections", "/detections/batch", "/reports"):
        assert (
            "$ref"
            in document["paths"][name]["post"]["requestBody"]["content"]["application/json"][
                "schema"
            ]
        )


def test_the_schemas_are_the_models_own(document):
    schemas = document["components"]["schemas"]
    for model in MODELS:
        generated = model.model_json_schema(ref_template=REF)
        generated.pop("$defs", None)
        assert schemas[model.__name__] == generated, model.__name__
    detection_schema = schemas["Detection"]
    assert set(detection_schema["required"]) == {
        "subject",
        "source",
        "moderation",
        "content",
        "occurred_at",
    }
    assert schemas["Contact"]["additionalProperties"] is False
    assert schemas["TransitionFields"]["additionalProperties"] is False
    scope = schemas["TransitionFields"]["properties"]["territorial_scope"]["anyOf"][0]
    assert scope["maxItems"] == 60 and scope["items"]["maxLength"] == 16


ACCEPTED = [
    ("Detection", detection()),
    ("DetectionBatch", {"items": [detection(), detection()]}),
    ("Notice", NOTICE),
    ("TransitionRequest", {"transition": "decide", "fields": DECISION}),
    ("AppealRequest", {"appellant": {"kind": "reporter", "report_id": 3}, "grounds": "Wrong."}),
]
REFUSED = [
    ("Detection", {**detection(), "occurred_at": "yesterday"}),
    ("Detection", {**detection(), "subject": {"type": "planet", "id": "x"}}),
    ("Detection", {**detection(), "subject": {"type": "account", "id": 42}}),
    ("Detection", {**detection(), "content": {"type": "chat", "md5": "abc"}}),
    ("DetectionBatch", {"items": []}),
    ("Notice", {**NOTICE, "good_faith": "true"}),
    ("Notice", {**NOTICE, "explanation": ""}),
    ("TransitionRequest", {"transition": "decide", "fields": {"appeal": 1}}),
    ("TransitionRequest", {"transition": "decide", "fields": {"duration_days": 1.5}}),
    (
        "TransitionRequest",
        {"transition": "x", "fields": {"statement_of_reasons": {**STATEMENT, "x": 1}}},
    ),
    ("AppealRequest", {"appellant": {"kind": "reporter"}, "grounds": "x", "outcome": "won"}),
]


@pytest.mark.parametrize(("name", "body"), ACCEPTED)
def test_bodies_the_api_takes_hold_to_the_document(document, name, body):
    assert holds(document, name, body) == []


@pytest.mark.parametrize(("name", "body"), REFUSED)
def test_bodies_the_api_refuses_break_the_document(document, name, body):
    assert holds(document, name, body)


def test_real_answers_hold_to_the_document(app, document, client, post_json, session, cases_key):
    with app.test_request_context():
        waiting = make_case(session, state="awaiting_information", stage="triage")
    waiting.reference = "DK-2026-WAITING"  # apart from the references intake gives out
    session.commit()
    created = post_json("/api/v1/detections", detection("user-doc"))
    assert created.status_code == 201
    assert holds(document, "DetectionCreated", created.get_json()) == []
    batch = post_json("/api/v1/detections/batch", {"items": [detection(), {"subject": 1}]})
    assert holds(document, "BatchResults", batch.get_json()) == []
    refused = post_json("/api/v1/detections", {"subject": 1})
    assert refused.status_code == 422 and holds(document, "Error", refused.get_json()) == []
    notice = client.post("/api/v1/reports", json=NOTICE)
    assert notice.status_code == 201 and holds(document, "NoticeReceived", notice.get_json()) == []

    reference = created.get_json()["case"]["reference"]
    key = bearer(cases_key)
    for url, name in [
        ("/api/v1/cases", "CasePage"),
        (f"/api/v1/cases/{reference}", "CaseDetail"),
        (f"/api/v1/cases/{reference}/events", "CaseEvents"),
        ("/api/v1/me", "Me"),
        ("/api/v1/log/proof/inclusion?index=0&size=1", "InclusionProof"),
        ("/api/v1/log/proof/consistency?from=1&to=2", "ConsistencyProof"),
    ]:
        answer = client.get(url, headers=key)
        assert answer.status_code == 200, (url, answer.get_json())
        assert holds(document, name, answer.get_json()) == [], url
    fired = client.post(
        f"/api/v1/cases/{waiting.reference}/transitions",
        json={"transition": "information_received", "fields": {"answer": "At 3 pm."}},
        headers=key,
    )
    assert fired.status_code == 200 and holds(document, "TransitionFired", fired.get_json()) == []


def test_a_relayed_appeal_holds_to_the_document(document, client, open_case, walk, cases_key):
    enforced = walk(open_case(), "enforced")
    answer = client.post(
        f"/api/v1/cases/{enforced.reference}/appeals",
        json={"appellant": {"kind": "affected_user"}, "grounds": "I did not write that."},
        headers=bearer(cases_key),
    )
    assert answer.status_code == 201, answer.get_json()
    assert holds(document, "AppealFiled", answer.get_json()) == []


def moderation_paths(value, path=()):
    """Every place in a moderation response, as key paths."""
    yield path
    if isinstance(value, dict):
        for key, member in value.items():
            yield from moderation_paths(member, (*path, key))
    elif isinstance(value, list):
        for index, member in enumerate(value):
            yield from moderation_paths(member, (*path, index))


MODERATION = moderation_response({"harassment": 0.9})
PLACES = list(moderation_paths(MODERATION)) + [
    ("results", 0, "categories", "future/category"),
    ("results", 0, "category_scores", "future/category"),
    ("results", 0, "flagged"),
    ("extra",),
]
anything = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2) | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=2)
        | st.dictionaries(st.sampled_from(["categories", "category_scores", "x"]), children)
    ),
    max_leaves=5,
)


@pytest.mark.parametrize("place", PLACES, ids=lambda place: ".".join(map(str, place)) or "body")
def test_the_moderation_schema_describes_what_the_reader_takes(document, place):
    """The document's moderation schema and the intake service's reader agree on every
    response: a change to one of them that the other does not follow fails here."""

    @settings(
        deadline=None,
        max_examples=30,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(value=anything, drop=st.booleans())
    def agree(value, drop):
        body = json.loads(json.dumps(MODERATION))
        if place:
            *parents, last = place
            target = body
            for key in parents:
                target = target[key]
            if drop and isinstance(target, dict):
                target.pop(last, None)
            else:
                target[last] = value
        else:
            body = value
        try:
            parse_moderation(body)
            taken = True
        except ModerationFormatError:
            taken = False
        assert (holds(document, "ModerationResponse", body) == []) == taken, body

    agree()
