"""Statements of reasons in the Transparency Database's format: built from real decisions, every
one passing every rule of the reference, mapped as the module documents, and free of personal
data."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from cases.core.sqltypes import utcnow
from cases.dsa.service import statements_for_period
from cases.dsa.statements import (
    FACTS_ERASED,
    REDACTED,
    WORLDWIDE,
    DecisionFacts,
    build_statement,
    scrub,
    statement_problems,
)
from cases.lifecycle.deployed import definitions
from cases.models import Case, Decision, Report
from tests.dsa.conftest import (
    ADDRESS,
    CATEGORY_CLAUSES,
    HANDLE,
    REPORTER_EMAIL,
    REPORTER_NAME,
    SUBJECT_EMAIL,
    SUBJECT_NAME,
    leaky_facts,
    personal_values,
)
from workflows import dsa


def period(session):
    now = utcnow()
    return statements_for_period(
        session, start=now - timedelta(days=1), end=now + timedelta(days=1)
    )


@pytest.fixture
def exported(session, dataset):
    """The dataset's statements by decision name."""
    by_puid = {s["puid"]: s for s in period(session)}
    by_decision = {int(puid.split("-")[1]): s for puid, s in by_puid.items()}
    return {name: by_decision.get(d.id) for name, d in dataset.items()}


def test_every_statement_of_a_realistic_period_passes_every_rule(session, dataset, exported):
    statements = period(session)
    # All but the dismissal (not a restriction), plus the suspension an appeal lessened.
    assert len(statements) == len(dataset)
    assert exported["dismissal"] is None
    for statement in statements:
        assert statement_problems(statement) == [], statement
    assert [s["puid"] for s in statements] == [s["puid"] for s in period(session)]
    for name, decision in dataset.items():
        if exported[name]:
            assert exported[name]["puid"].startswith(f"docket-{decision.id}-")


DECISION_KEYS = {
    "decision_visibility",
    "decision_visibility_other",
    "decision_monetary",
    "decision_provision",
    "decision_account",
}
RESTRICTION_FIELDS = {
    "warn": {
        "decision_visibility": ["DECISION_VISIBILITY_OTHER"],
        "decision_visibility_other": "Warning",
    },
    "content_removal": {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"]},
    "feature_restriction": {"decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION"},
    "temporary_suspension": {"decision_account": "DECISION_ACCOUNT_SUSPENDED"},
    "termination": {"decision_account": "DECISION_ACCOUNT_TERMINATED"},
    "api_key_revocation": {"decision_provision": "DECISION_PROVISION_TOTAL_TERMINATION"},
}


def test_restrictions_map_to_decision_fields_and_durations_to_end_dates(dataset, exported):
    for restriction, fields in RESTRICTION_FIELDS.items():
        statement = exported[f"restriction:{restriction}"]
        assert {k: v for k, v in statement.items() if k in DECISION_KEYS} == fields, restriction
    assert exported["lessened"]["decision_visibility_other"] == "Warning"

    def ends(name, days):
        return (dataset[name].decided_at + timedelta(days=days)).date().isoformat()

    suspension = exported["restriction:temporary_suspension"]
    assert suspension["end_date_account_restriction"] == ends(
        "restriction:temporary_suspension", 14
    )
    feature = exported["restriction:feature_restriction"]
    assert feature["end_date_service_restriction"] == ends("restriction:feature_restriction", 30)
    # No duration: indefinite, so no end date; nor for restrictions that are final.
    for name in ("indefinite", "restriction:termination", "restriction:content_removal"):
        assert not any(key.startswith("end_date_") for key in exported[name]), name


def test_grounds_sources_and_automation(exported):
    contractual = exported["restriction:termination"]
    assert contractual["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert contractual["incompatible_content_ground"] == (
        "Usage policy: Threats, intimidation, harassment or defamation (protect.threats)"
    )
    assert contractual["decision_ground_reference_url"].startswith("https://")
    assert not any(key.startswith("illegal_content") for key in contractual)
    legal = exported["legal"]
    assert legal["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert legal["illegal_content_legal_ground"] == "§ 241 StGB (threats), Germany"
    assert "breaches protect.threats" in legal["illegal_content_explanation"]
    assert not any(key.startswith("incompatible_content") for key in legal)
    assert "decision_ground_reference_url" not in legal

    assert exported["source:user_report"]["source_type"] == "SOURCE_ARTICLE_16"
    assert exported["source:provider_notice"]["source_type"] == "SOURCE_TYPE_OTHER_NOTIFICATION"
    assert exported["source:classifier"]["source_type"] == "SOURCE_VOLUNTARY"
    assert exported["source:internal"]["source_type"] == "SOURCE_VOLUNTARY"
    assert not any("source_identity" in s for s in exported.values() if s)

    assert exported["source:classifier"]["automated_detection"] == "Yes"
    assert exported["source:user_report"]["automated_detection"] == "No"
    assert exported["automated"]["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    manual = exported["source:user_report"]["automated_decision"]
    assert manual == "AUTOMATED_DECISION_NOT_AUTOMATED"


def test_scope_category_content_type_and_dates(dataset, exported):
    assert exported["restriction:warn"]["territorial_scope"] == list(dsa.EUROPEAN_COUNTRY_CODES)
    assert len(dsa.EUROPEAN_COUNTRY_CODES) == 30 and WORLDWIDE not in dsa.EUROPEAN_COUNTRY_CODES
    assert exported["eea_subset"]["territorial_scope"] == ["FR", "IE", "NL"]
    assert exported["legal"]["territorial_scope"] == ["AT", "DE"]

    for category in CATEGORY_CLAUSES:
        assert exported[f"category:{category}"]["category"] == category

    assert exported["source:classifier"]["content_type"] == ["CONTENT_TYPE_TEXT"]
    assert exported["synthetic"]["content_type"] == [
        "CONTENT_TYPE_IMAGE",
        "CONTENT_TYPE_SYNTHETIC_MEDIA",
    ]
    assert exported["image"]["content_type"] == ["CONTENT_TYPE_IMAGE"]
    assert exported["source:user_report"]["content_type"] == ["CONTENT_TYPE_TEXT"]

    statement = exported["source:user_report"]
    assert statement["content_date"] == "2026-01-10"  # when it happened, as reported
    decided = dataset["source:user_report"].decided_at
    assert statement["application_date"] == decided.date().isoformat()
    internal = exported["source:internal"]  # no time given: when it was received
    assert internal["content_date"] == internal["application_date"]


def test_no_personal_data_anywhere_in_the_export(session, dataset, exported):
    decision = dataset["source:user_report"]
    # Not vacuous: the decisions hold the personal data the export must leave out.
    assert REPORTER_EMAIL in decision.facts and SUBJECT_NAME in decision.ground
    text = json.dumps(period(session), ensure_ascii=False).casefold()
    values = personal_values(session)
    assert {SUBJECT_EMAIL, REPORTER_NAME} <= set(values)
    for value in values:
        assert value.casefold() not in text, value
    assert ":pw@" not in text
    assert REDACTED in exported["source:user_report"]["decision_facts"]
    # An erased case still has its statement, with a neutral sentence for the facts it lost.
    assert session.get(Case, dataset["erased"].case_id).erased_at is not None
    assert exported["erased"]["decision_facts"] == FACTS_ERASED


# --- scrub ----------------------------------------------------------------------------------------


def test_scrub_removes_every_kind_of_personal_value():
    text = leaky_facts("acct-0042")
    cleaned = scrub(text, terms=["acct-0042", SUBJECT_NAME, REPORTER_NAME, None, ""])
    for value in (
        "acct-0042",
        SUBJECT_NAME,
        SUBJECT_EMAIL,
        SUBJECT_EMAIL.upper(),
        REPORTER_NAME,
        REPORTER_EMAIL,
        HANDLE,
        ADDRESS,
        "pw@",
    ):
        assert value not in cleaned, value
    assert "reported that" in cleaned and "threats" in cleaned


@pytest.mark.parametrize(
    ("text", "terms", "expected"),
    [
        ("Account ACCT-9 posted it.", ["acct-9"], f"Account {REDACTED} posted it."),
        ("acct-91 is another account.", ["acct-9"], "acct-91 is another account."),
        ("Write to a.b+c@mail.example.com now", [], f"Write to {REDACTED} now"),
        ("See ftp://user@host.example/file", [], f"See {REDACTED}"),
        ("See https://example.com/page", [], "See https://example.com/page"),
        ("From 10.0.0.1 at 3 pm", [], f"From {REDACTED} at 3 pm"),
        ("Version 1.2.3 was fine", [], "Version 1.2.3 was fine"),
        ("Ping @someone_else here", [], f"Ping {REDACTED} here"),
        ("A one-letter id x stays", ["x"], "A one-letter id x stays"),
        ("<b>Jo Doe</b> wrote", ["Jo Doe"], f"<b>{REDACTED}</b> wrote"),
    ],
)
def test_scrub_cases(text, terms, expected):
    assert scrub(text, terms=terms) == expected


# --- built from rows in memory --------------------------------------------------------------------


@pytest.fixture
def policy(app):
    with app.app_context():
        return definitions().policy


def facts_with(reports=(), media_types=(), **decision) -> DecisionFacts:
    decided = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    case = Case(id=7, reference="DK-2026-000007", subject_id=1, workflow_name="standard",
                workflow_version=1, workflow_digest="0" * 64, state="enforced",
                stage="enforcement", opened_at=decided - timedelta(days=2))  # fmt: skip
    row = Decision(**{
        "id": 42, "case_id": 7, "policy_clause": "protect.threats",
        "restriction": "content_removal", "territorial_scope": ["worldwide"], "facts": "Facts.",
        "ground": "Ground.", "decided_at": decided, **decision,
    })  # fmt: skip
    return DecisionFacts(
        decision=row, case=case, reports=list(reports), media_types=list(media_types), personal=[]
    )


def detection_report(content) -> Report:
    return Report(
        case_id=7,
        source="classifier",
        raw_payload=json.dumps({"content": content}),
        payload_sha256="0" * 64,
        received_at=datetime(2026, 3, 9, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("content", "media", "expected"),
    [
        ({"type": "conversation"}, [], ["CONTENT_TYPE_TEXT"]),
        ({"type": "generated_images"}, [], ["CONTENT_TYPE_IMAGE", "CONTENT_TYPE_SYNTHETIC_MEDIA"]),
        ({"type": "voice-message"}, [], ["CONTENT_TYPE_AUDIO", "CONTENT_TYPE_TEXT"]),
        ({"type": "video", "synthetic": True}, [],
         ["CONTENT_TYPE_SYNTHETIC_MEDIA", "CONTENT_TYPE_VIDEO"]),
        ({"type": "whatsapp_context"}, [], ["CONTENT_TYPE_TEXT"]),  # no word it knows: default
        ({"type": 5}, ["video/mp4", "image/png"], ["CONTENT_TYPE_IMAGE", "CONTENT_TYPE_VIDEO"]),
        ("not an object", ["application/pdf"], ["CONTENT_TYPE_TEXT"]),
        ({"type": "conversation"}, ["image/png"], ["CONTENT_TYPE_TEXT"]),  # what the detection says
    ],
)  # fmt: skip
def test_content_types_from_what_detections_say_else_the_evidence(policy, content, media, expected):
    facts = facts_with([detection_report(content)], media)
    statement = build_statement(facts, policy=policy)
    assert statement["content_type"] == expected
    assert statement_problems(statement) == []


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (["classifier", "user_report"], "SOURCE_ARTICLE_16"),
        (["internal", "provider_notice", "classifier"], "SOURCE_TYPE_OTHER_NOTIFICATION"),
        (["classifier", "internal"], "SOURCE_VOLUNTARY"),
        ([], "SOURCE_VOLUNTARY"),
    ],
)
def test_the_strongest_notice_is_the_source(policy, sources, expected):
    reports = [detection_report({}) for _ in sources]
    for report, source in zip(reports, sources, strict=True):
        report.source = source
    assert build_statement(facts_with(reports), policy=policy)["source_type"] == expected


def test_dates_stay_in_the_databases_range(policy):
    old = detection_report({})
    old.occurred_at = datetime(1999, 5, 1, tzinfo=UTC)
    statement = build_statement(facts_with([old]), policy=policy)
    assert statement["content_date"] == "2000-01-01"
    late = detection_report({})
    late.occurred_at = datetime(2026, 3, 11, tzinfo=UTC)  # after the decision: not believable
    assert build_statement(facts_with([late]), policy=policy)["content_date"] == "2026-03-10"
    long = facts_with(restriction="temporary_suspension", duration_days=3650)
    long.decision.decided_at = datetime(2030, 1, 1, tzinfo=UTC)
    statement = build_statement(long, policy=policy)
    assert statement["end_date_account_restriction"] == "2038-01-01"
    assert statement_problems(statement) == []


def test_an_automated_decision_nobody_signed_is_fully_automated(policy):
    facts = facts_with(automated_decision=True, author_id=None)
    assert build_statement(facts, policy=policy)["automated_decision"] == "AUTOMATED_DECISION_FULLY"


def test_a_clause_no_longer_in_the_taxonomy_still_exports(policy):
    statement = build_statement(facts_with(policy_clause="retired.clause"), policy=policy)
    assert statement["category"] == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    assert statement["incompatible_content_ground"] == "Usage policy: retired.clause"
    assert statement_problems(statement) == []


def test_no_action_has_no_statement(policy):
    with pytest.raises(ValueError, match="not a restriction"):
        build_statement(facts_with(restriction="no_action"), policy=policy)
