"""Issue 13, item 2: `POST /api/v1/cases/{ref}/transitions` takes only the fields the transition
declares, each checked for type and size, so nothing undeclared reaches the permanent trail."""

import pytest

from cases.api.cases import accepted_fields
from cases.api.schemas import StatementOfReasons, TransitionFields
from cases.decisions.service import MAX_DURATION_DAYS, MAX_FACTS, MAX_GROUND, MAX_LEGAL_GROUND
from cases.lifecycle.deployed import definitions
from cases.review.notes import MAX_NOTE
from tests.api.conftest import bearer, written
from tests.api.test_errors import DECISION, STATEMENT
from tests.factories import make_case
from tests.helpers import event_payloads, fresh
from workflows import RequiredField, get_transition

ANSWER = "At 3 pm, in #general."
VALID = {
    "policy_clause": "protect.threats",
    "restriction": "warn",
    "duration_days": 7,
    "territorial_scope": ["worldwide"],
    "statement_of_reasons": STATEMENT,
    "note": "A note.",
    "question": "When?",
    "answer": ANSWER,
    "appeal_outcome": "The appeal succeeds: the threats were quoted, not made.",
    "ncmec_report_id": "123456",
    "no_report_reason": "The image is a known medical illustration.",
}


@pytest.fixture
def waiting(app, session):
    """A case waiting on the reporter's answer: `information_received` is the system's."""
    with app.test_request_context():
        case = make_case(session, state="awaiting_information", stage="triage")
    session.commit()
    return case


def fire(client, case, key, fields, transition="information_received"):
    return client.post(
        f"/api/v1/cases/{case.reference}/transitions",
        json={"transition": transition, "fields": fields},
        headers=bearer(key),
    )


def test_the_model_covers_every_field_a_workflow_can_require():
    assert set(TransitionFields.model_fields) == set(RequiredField) == set(VALID)


@pytest.mark.parametrize(
    ("workflow", "transition", "accepted"),
    [
        ("standard", "information_received", {"answer"}),
        ("standard", "start_triage", set()),
        ("standard", "dismiss", {"note"}),
        (
            "standard",
            "decide",
            {"policy_clause", "restriction", "duration_days", "statement_of_reasons"}
            | {"territorial_scope"},
        ),
        ("standard", "uphold", {"appeal_outcome", "statement_of_reasons"}),
        (
            "standard",
            "partially_reverse",
            {"appeal_outcome", "statement_of_reasons", "restriction", "duration_days"}
            | {"policy_clause", "territorial_scope"},
        ),
        (
            "standard",
            "reverse",
            {"appeal_outcome", "statement_of_reasons", "policy_clause", "territorial_scope"},
        ),
        ("child_safety", "record_report_finished", {"ncmec_report_id"}),
        ("child_safety", "decide_no_report", {"no_report_reason"}),
    ],
)
def test_a_transition_accepts_what_it_requires_and_what_its_service_reads(
    app, workflow, transition, accepted
):
    with app.app_context():
        chosen = get_transition(definitions().current(workflow), transition)
    assert accepted_fields(chosen) == accepted


@pytest.mark.parametrize("field", sorted(set(RequiredField) - {"answer"}))
def test_a_declared_field_the_transition_does_not_take_is_refused(
    client, session, waiting, cases_key, field
):
    before = written(session)
    response = fire(client, waiting, cases_key, {"answer": ANSWER, field: VALID[field]})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        f"fields.{field}": "not accepted by this transition"
    }
    assert written(session) == before


def test_a_fake_appeal_outcome_never_reaches_the_trail(client, session, waiting, cases_key):
    forged = {"answer": ANSWER, "appeal_outcome": "reversed"}
    refused = fire(client, waiting, cases_key, forged)
    assert refused.status_code == 422
    assert "fields.appeal_outcome" in refused.get_json()["error"]["fields"]
    assert event_payloads(fresh(session), waiting.id, "transition") == []

    accepted = fire(client, waiting, cases_key, {"answer": ANSWER})
    assert accepted.status_code == 200, accepted.get_json()
    [(_, payload)] = event_payloads(fresh(session), waiting.id, "transition")
    assert payload["fields"] == {"answer": ANSWER}


@pytest.mark.parametrize("name", ["requested_by", "appeal_id", "x", ""])
def test_a_field_no_transition_declares_is_an_unknown_field(
    client, session, waiting, cases_key, name
):
    response = fire(client, waiting, cases_key, {"answer": ANSWER, name: "forged"})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {f"fields.{name}": "unknown field"}
    assert event_payloads(fresh(session), waiting.id, "transition") == []


TEXT_LIMITS = {
    "policy_clause": 120,
    "note": MAX_NOTE,
    "question": MAX_NOTE,
    "answer": MAX_NOTE,
    "appeal_outcome": MAX_GROUND,
    "ncmec_report_id": 64,
    "no_report_reason": MAX_GROUND,
}
BAD_VALUES = [
    *[(f, 5, f"fields.{f}") for f in TEXT_LIMITS],
    *[(f, True, f"fields.{f}") for f in TEXT_LIMITS],
    *[(f, ["text"], f"fields.{f}") for f in TEXT_LIMITS],
    *[(f, {"text": "x"}, f"fields.{f}") for f in TEXT_LIMITS],
    *[(f, "x" * (n + 1), f"fields.{f}") for f, n in TEXT_LIMITS.items()],
    *[(f, " \n", f"fields.{f}") for f in TEXT_LIMITS],
    *[(f, "a\x00b", f"fields.{f}") for f in TEXT_LIMITS],
    ("restriction", "banished", "fields.restriction"),
    ("restriction", 1, "fields.restriction"),
    ("duration_days", "7", "fields.duration_days"),
    ("duration_days", 0, "fields.duration_days"),
    ("duration_days", MAX_DURATION_DAYS + 1, "fields.duration_days"),
    ("duration_days", True, "fields.duration_days"),
    ("territorial_scope", {"DE": True}, "fields.territorial_scope"),
    ("statement_of_reasons", "facts", "fields.statement_of_reasons"),
    ("statement_of_reasons", {}, "fields.statement_of_reasons.facts"),
    (
        "statement_of_reasons",
        {**STATEMENT, "facts": "x" * (MAX_FACTS + 1)},
        "fields.statement_of_reasons.facts",
    ),
    (
        "statement_of_reasons",
        {**STATEMENT, "automated_decision": "no"},
        "fields.statement_of_reasons.automated_decision",
    ),
    (
        "statement_of_reasons",
        {**STATEMENT, "ground_kind": "moral"},
        "fields.statement_of_reasons.ground_kind",
    ),
    (
        "statement_of_reasons",
        {**STATEMENT, "ground_kind": "legal", "legal_ground": "x" * (MAX_LEGAL_GROUND + 1)},
        "fields.statement_of_reasons.legal_ground",
    ),
]


@pytest.mark.parametrize(("field", "value", "path"), BAD_VALUES)
def test_every_field_is_checked_for_type_and_size(
    client, session, waiting, cases_key, field, value, path
):
    before = written(session)
    response = fire(client, waiting, cases_key, {"answer": ANSWER, field: value})
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert path in fields and fields[path]
    assert written(session) == before


def test_the_statement_of_reasons_takes_only_its_own_parts():
    assert set(StatementOfReasons.model_fields) == {
        *STATEMENT,
        "ground_kind",
        "legal_ground",
    }


def test_a_decision_the_service_refuses_names_the_field_by_its_path(
    app, client, session, cases_key
):
    """The decide transition is staff's, but its fields are checked before who fires it."""
    with app.test_request_context():
        case = make_case(session, state="enforcement", stage="enforcement")
    session.commit()
    response = fire(client, case, cases_key, {**DECISION, "extra": 1}, transition="decide")
    assert response.get_json()["error"]["fields"] == {"fields.extra": "unknown field"}
    response = fire(client, case, cases_key, DECISION, transition="decide")
    assert response.status_code == 403
