"""`statement_problems`: one test per rule of the reference table
(shared/reference/dsa/statement-of-reasons.md), each breaking a valid statement in one way and
expecting the field at fault to be named."""

import pytest

from cases.dsa.statements import statement_problems

VALID = {
    "puid": "docket-12-0a1b2c3d4e5f",
    "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
    "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    "decision_ground_reference_url": "https://openai.com/policies/usage-policies/",
    "incompatible_content_ground": "Usage policy: Threats (protect.threats)",
    "incompatible_content_explanation": "Repeated threats against another user.",
    "content_type": ["CONTENT_TYPE_TEXT"],
    "category": "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "territorial_scope": ["DE", "FR"],
    "content_date": "2026-01-10",
    "application_date": "2026-02-01",
    "decision_facts": "Three threatening messages on 10 January.",
    "source_type": "SOURCE_ARTICLE_16",
    "automated_detection": "No",
    "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
}
ILLEGAL = {
    "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
    "illegal_content_legal_ground": "§ 241 StGB",
    "illegal_content_explanation": "A threat of a crime against a person.",
    "incompatible_content_ground": None,
    "incompatible_content_explanation": None,
    "decision_ground_reference_url": None,
}
DROP = object()


def changed(changes: dict) -> dict:
    statement = {**VALID, **changes}
    return {k: v for k, v in statement.items() if v is not DROP and v is not None}


def fields_at_fault(changes: dict) -> set[str]:
    return {problem.split(":", 1)[0] for problem in statement_problems(changed(changes))}


def test_the_valid_statement_passes():
    assert statement_problems(VALID) == []


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(ILLEGAL, id="illegal ground with the law and explanation"),
        pytest.param(
            {
                "decision_visibility": ["DECISION_VISIBILITY_OTHER"],
                "decision_visibility_other": "Warning",
                "decision_monetary": "DECISION_MONETARY_OTHER",
                "decision_monetary_other": "Payouts held",
                "decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION",
                "decision_account": "DECISION_ACCOUNT_SUSPENDED",
                "account_type": "ACCOUNT_TYPE_PRIVATE",
            },
            id="every decision field with its other text",
        ),
        pytest.param({"decision_visibility": DROP,
                      "decision_account": "DECISION_ACCOUNT_TERMINATED"}, id="account only"),
        pytest.param({"incompatible_content_illegal": "Yes"}, id="incompatible yet illegal"),
        pytest.param({"content_type": ["CONTENT_TYPE_OTHER", "CONTENT_TYPE_TEXT"],
                      "content_type_other": "A prompt template"}, id="other content type"),
        pytest.param({"category_addition": ["STATEMENT_CATEGORY_VIOLENCE"],
                      "category_specification": ["KEYWORD_CYBER_HARASSMENT"],
                      "category_specification_other": "Threats by chatbot"}, id="category extras"),
        pytest.param({"content_language": "DE"}, id="language"),
        pytest.param({"content_date": "2000-01-01"}, id="earliest content date"),
        pytest.param({"application_date": "2038-01-01", "content_date": "2038-01-01"},
                     id="latest dates"),
        pytest.param({"end_date_account_restriction": "2026-02-01",
                      "decision_account": "DECISION_ACCOUNT_SUSPENDED"}, id="end on the day"),
        pytest.param({"end_date_service_restriction": ""}, id="blank end: indefinite"),
        pytest.param({"source_type": "SOURCE_VOLUNTARY", "source_identity": "Trust team"},
                     id="source identity"),
        pytest.param({"content_id": {"EAN-13": "4006381333931"}}, id="EAN-13"),
        pytest.param({"territorial_scope": ["IS", "LI", "NO"]}, id="EEA beyond the EU"),
    ],
)  # fmt: skip
def test_optional_and_conditional_fields_that_are_right_pass(changes):
    assert statement_problems(changed(changes)) == []


# (what is changed, the field that must be named); each row is one rule of the table.
RULES = [
    # Not a field of the format.
    ({"decision_label": "x"}, "decision_label"),
    # puid: required, at most 500 of [a-zA-Z0-9-_].
    ({"puid": DROP}, "puid"),
    ({"puid": "d" * 501}, "puid"),
    ({"puid": "docket 12/3"}, "puid"),
    ({"puid": "dockét-1"}, "puid"),
    ({"puid": 12}, "puid"),
    # At least one of the four decision fields.
    ({"decision_visibility": DROP}, "decision_visibility"),
    # decision_visibility: an array of keys (not labels).
    ({"decision_visibility": ["Removal of content"]}, "decision_visibility"),
    ({"decision_visibility": "DECISION_VISIBILITY_CONTENT_REMOVED"}, "decision_visibility"),
    ({"decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"] * 2}, "decision_visibility"),
    # decision_visibility_other exactly with DECISION_VISIBILITY_OTHER, at most 500.
    ({"decision_visibility": ["DECISION_VISIBILITY_OTHER"]}, "decision_visibility_other"),
    ({"decision_visibility_other": "Warning"}, "decision_visibility_other"),
    ({"decision_visibility": ["DECISION_VISIBILITY_OTHER"], "decision_visibility_other": "w" * 501},
     "decision_visibility_other"),
    # decision_monetary: a key; its _other exactly with DECISION_MONETARY_OTHER.
    ({"decision_monetary": "Suspension of monetary payments"}, "decision_monetary"),
    ({"decision_monetary": "DECISION_MONETARY_OTHER"}, "decision_monetary_other"),
    ({"decision_monetary_other": "Payouts held"}, "decision_monetary_other"),
    # decision_provision, decision_account: keys.
    ({"decision_provision": "DECISION_PROVISION_SOMETIMES"}, "decision_provision"),
    ({"decision_account": "Suspension of the account"}, "decision_account"),
    # account_type: business or private.
    ({"account_type": "ACCOUNT_TYPE_ROBOT"}, "account_type"),
    # decision_ground: required, a key.
    ({"decision_ground": DROP}, "decision_ground"),
    ({"decision_ground": "Illegal Content"}, "decision_ground"),
    # decision_ground_reference_url: a URL of at most 500.
    ({"decision_ground_reference_url": "see the policy"}, "decision_ground_reference_url"),
    ({"decision_ground_reference_url": "https://x.example/" + "a" * 490},
     "decision_ground_reference_url"),
    # The illegal-content fields exactly with an illegal ground; 500 and 2000.
    ({**ILLEGAL, "illegal_content_legal_ground": DROP}, "illegal_content_legal_ground"),
    ({**ILLEGAL, "illegal_content_explanation": DROP}, "illegal_content_explanation"),
    ({**ILLEGAL, "illegal_content_legal_ground": "x" * 501}, "illegal_content_legal_ground"),
    ({**ILLEGAL, "illegal_content_explanation": "x" * 2001}, "illegal_content_explanation"),
    ({"illegal_content_legal_ground": "§ 241 StGB"}, "illegal_content_legal_ground"),
    # The incompatible-content fields exactly with an incompatible ground; 500 and 2000.
    ({"incompatible_content_ground": DROP}, "incompatible_content_ground"),
    ({"incompatible_content_explanation": "  "}, "incompatible_content_explanation"),
    ({"incompatible_content_ground": "x" * 501}, "incompatible_content_ground"),
    ({"incompatible_content_explanation": "x" * 2001}, "incompatible_content_explanation"),
    ({**ILLEGAL, "incompatible_content_ground": "Usage policy"}, "incompatible_content_ground"),
    # incompatible_content_illegal: "Yes"/"No", only with an incompatible ground.
    ({"incompatible_content_illegal": "yes"}, "incompatible_content_illegal"),
    ({"incompatible_content_illegal": True}, "incompatible_content_illegal"),
    ({**ILLEGAL, "incompatible_content_illegal": "No"}, "incompatible_content_illegal"),
    # content_type: required, an array of keys; its _other exactly with CONTENT_TYPE_OTHER.
    ({"content_type": DROP}, "content_type"),
    ({"content_type": ["Text"]}, "content_type"),
    ({"content_type": []}, "content_type"),
    ({"content_type": ["CONTENT_TYPE_OTHER"]}, "content_type_other"),
    ({"content_type_other": "A prompt"}, "content_type_other"),
    ({"content_type": ["CONTENT_TYPE_OTHER"], "content_type_other": "x" * 501},
     "content_type_other"),
    # category: required, one key; additions categories, specifications keywords.
    ({"category": DROP}, "category"),
    ({"category": "Cyber violence"}, "category"),
    ({"category": ["STATEMENT_CATEGORY_CYBER_VIOLENCE"]}, "category"),
    ({"category_addition": ["Violence"]}, "category_addition"),
    ({"category_addition": "STATEMENT_CATEGORY_VIOLENCE"}, "category_addition"),
    ({"category_specification": ["STATEMENT_CATEGORY_VIOLENCE"]}, "category_specification"),
    ({"category_specification_other": "x" * 501}, "category_specification_other"),
    # territorial_scope: always sent, EU/EEA codes.
    ({"territorial_scope": DROP}, "territorial_scope"),
    ({"territorial_scope": ["US"]}, "territorial_scope"),
    ({"territorial_scope": ["de"]}, "territorial_scope"),
    ({"territorial_scope": ["worldwide"]}, "territorial_scope"),
    ({"territorial_scope": "DE"}, "territorial_scope"),
    # content_language: upper-case ISO 639-1.
    ({"content_language": "de"}, "content_language"),
    ({"content_language": "XX"}, "content_language"),
    # content_date: required, YYYY-MM-DD from 2000-01-01 to 2038-01-01.
    ({"content_date": DROP}, "content_date"),
    ({"content_date": "10/01/2026"}, "content_date"),
    ({"content_date": "2026-02-30"}, "content_date"),
    ({"content_date": "2026-01-10T09:30:00Z"}, "content_date"),
    ({"content_date": "1999-12-31"}, "content_date"),
    ({"content_date": "2038-01-02"}, "content_date"),
    # application_date: required, from 2020-01-01 to 2038-01-01.
    ({"application_date": DROP}, "application_date"),
    ({"application_date": "2019-12-31"}, "application_date"),
    ({"application_date": "2038-01-02"}, "application_date"),
    # End dates: YYYY-MM-DD up to 2038-01-01, not before application_date.
    ({"end_date_account_restriction": "2026-01-31"}, "end_date_account_restriction"),
    ({"end_date_visibility_restriction": "2038-01-02"}, "end_date_visibility_restriction"),
    ({"end_date_monetary_restriction": "next week"}, "end_date_monetary_restriction"),
    ({"end_date_service_restriction": "2026-13-01"}, "end_date_service_restriction"),
    # decision_facts: required, at most 5000.
    ({"decision_facts": DROP}, "decision_facts"),
    ({"decision_facts": "   "}, "decision_facts"),
    ({"decision_facts": "x" * 5001}, "decision_facts"),
    # source_type: required, one of four keys; source_identity at most 500.
    ({"source_type": DROP}, "source_type"),
    ({"source_type": "Notice submitted by a trusted flagger"}, "source_type"),
    ({"source_identity": "x" * 501}, "source_identity"),
    # automated_detection: required, "Yes" or "No".
    ({"automated_detection": DROP}, "automated_detection"),
    ({"automated_detection": False}, "automated_detection"),
    # automated_decision: required, one of three keys.
    ({"automated_decision": DROP}, "automated_decision"),
    ({"automated_decision": "Not Automated"}, "automated_decision"),
    # content_id: {"EAN-13": "<13 digits>"}.
    ({"content_id": {"EAN-13": "12345"}}, "content_id"),
    ({"content_id": {"ISBN": "4006381333931"}}, "content_id"),
    # No personal data.
    ({"decision_facts": "Reported by ada@example.org."}, "decision_facts"),
    ({"source_identity": "@someone"}, "source_identity"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "field"), RULES, ids=[f"{i}-{f}" for i, (_, f) in
                                                             enumerate(RULES)])  # fmt: skip
def test_each_rule_names_the_field_at_fault(changes, field):
    assert field in fields_at_fault(changes)


def test_a_statement_must_be_an_object():
    assert statement_problems(["not", "an", "object"]) == ["statement: must be a JSON object"]


def test_hostile_values_are_problems_not_crashes():
    hostile = {key: {"nested": [1, [2]]} for key in VALID}
    problems = statement_problems(hostile)
    assert {p.split(":", 1)[0] for p in problems} >= set(VALID) - {"decision_visibility"}
