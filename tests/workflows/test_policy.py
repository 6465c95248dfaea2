"""The policy taxonomy: the shipped file is complete and valid; broken ones are refused."""

import json
from pathlib import Path

import pytest

from workflows import DefinitionError, dsa
from workflows.policy import SHIPPED_POLICY, ModerationCategory, load_policy, parse_policy

DSA_ENUMS = Path(__file__).resolve().parents[3] / "shared/reference/dsa/transparency-db-enums.json"

WORKFLOW_NAMES = {"standard", "child_safety"}
POLICY = load_policy(SHIPPED_POLICY, workflows=WORKFLOW_NAMES)

MODERATION_CATEGORIES = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
]

# "Keep minors safe" clauses about sexual content or grooming: all open child_safety.
MINORS_SEXUAL_OR_GROOMING = {
    "minors.csam",
    "minors.grooming",
    "minors.age_inappropriate_content",
    "minors.underage_roleplay",
}


def test_the_four_groups_with_every_listed_prohibited_use():
    assert [
        (g.id, g.label, len([c for c in g.clauses if c.parent is None])) for g in POLICY.groups
    ] == [
        ("protect", "Protect people", 13),
        ("privacy", "Respect privacy", 7),
        ("minors", "Keep minors safe", 8),
        ("empower", "Empower people", 4),
    ]
    assert all(c.group == c.id.split(".")[0] for c in POLICY.clauses)


def test_the_thirteen_high_stakes_domains_are_subclauses():
    subclauses = POLICY.subclauses("empower.high_stakes_automation")
    assert [c.label for c in subclauses] == [
        "Critical infrastructure",
        "Education",
        "Housing",
        "Employment",
        "Financial activities and credit",
        "Insurance",
        "Legal",
        "Medical",
        "Essential government services",
        "Product safety components",
        "National security",
        "Migration",
        "Law enforcement",
    ]
    parent = POLICY.clause("empower.high_stakes_automation")
    for clause in subclauses:
        assert clause.id.startswith("empower.high_stakes_automation.")
        assert (clause.parent, clause.workflow, clause.dsa_category, clause.retention_days) == (
            parent.id,
            parent.workflow,
            parent.dsa_category,
            parent.retention_days,
        )


def test_intellectual_property_is_its_own_clause():
    clause = POLICY.clause("protect.intellectual_property")
    assert clause.dsa_category == "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"
    assert "intellectual property" not in POLICY.clause("protect.systems_and_property").label


@pytest.mark.skipif(not DSA_ENUMS.exists(), reason="../shared/reference is not beside the project")
def test_the_built_in_dsa_enumerations_equal_the_reference():
    reference = json.loads(DSA_ENUMS.read_text())
    assert sorted(reference) == sorted(dsa.REFERENCE_KEYS)
    for name, values in dsa.REFERENCE_KEYS.items():
        assert list(values) == list(reference[name]), name
    assert {c.dsa_category for c in POLICY.clauses} <= set(reference["STATEMENT_CATEGORIES"])


def test_retention_outlives_the_appeal_and_its_review():
    from cases.lifecycle.deployed import Definitions, definition_dirs

    definitions = Definitions(definition_dirs("/nonexistent"))
    for clause in definitions.policy.clauses:
        minimum = definitions.workflows[clause.workflow].minimum_retention_days
        assert clause.retention_days >= minimum > 182, clause.id


def test_all_thirteen_moderation_categories_are_mapped():
    assert sorted(POLICY.moderation) == sorted(MODERATION_CATEGORIES)
    assert sorted(ModerationCategory) == sorted(MODERATION_CATEGORIES)
    for category in MODERATION_CATEGORIES:
        assert POLICY.clauses_for_moderation(category)


def test_sexual_content_involving_minors_opens_child_safety():
    minors = POLICY.clauses_for_moderation("sexual/minors")
    assert [c.workflow for c in minors] == ["child_safety"] * len(minors)
    for clause in POLICY.clauses:
        if clause.group == "minors":
            expected = "child_safety" if clause.id in MINORS_SEXUAL_OR_GROOMING else "standard"
            assert clause.workflow == expected, clause.id
    assert {c.id for c in POLICY.clauses if c.workflow == "child_safety"} == (
        MINORS_SEXUAL_OR_GROOMING
    )


def test_lookups():
    clause = POLICY.clause("protect.threats")
    assert clause.dsa_category == "STATEMENT_CATEGORY_CYBER_VIOLENCE"
    assert POLICY.clauses_for_moderation(ModerationCategory.harassment) == [clause]
    with pytest.raises(KeyError):
        POLICY.clause("protect.nothing")
    with pytest.raises(ValueError):
        POLICY.clauses_for_moderation("spam")


CLAUSE = """
[[groups.clauses]]
id = "protect.threats"
label = "Threats"
description = "Threatening someone."
severity = 2
workflow = "standard"
dsa_category = "STATEMENT_CATEGORY_CYBER_VIOLENCE"
"""

MODERATION = "\n[moderation]\n" + "".join(
    f'"{c}" = ["protect.threats"]\n' for c in MODERATION_CATEGORIES
)

MINI = (
    """\
version = 1
label = "Mini policy"
source_url = "https://example.org/policy"

[[groups]]
id = "protect"
label = "Protect people"
description = "Safety."
retention_days = 400
"""
    + CLAUSE
    + MODERATION
)


def test_the_mini_policy_is_valid():
    assert parse_policy(MINI, workflows=WORKFLOW_NAMES).clause("protect.threats").severity == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            MINI.replace('workflow = "standard"', 'workflow = "express"'),
            "clause 'protect.threats': unknown workflow 'express'",
            id="unknown-workflow",
        ),
        pytest.param(
            MINI.replace('"STATEMENT_CATEGORY_CYBER_VIOLENCE"', '"STATEMENT_CATEGORY_RUDENESS"'),
            "clause 'protect.threats': unknown DSA statement category "
            "'STATEMENT_CATEGORY_RUDENESS'",
            id="invalid-dsa-key",
        ),
        pytest.param(
            MINI.replace('"sexual/minors" = ["protect.threats"]\n', ""),
            "moderation category 'sexual/minors' is not mapped to any clause",
            id="unmapped-moderation-category",
        ),
        pytest.param(
            MINI.replace('"violence" = ["protect.threats"]', '"violence" = ["protect.murder"]'),
            "moderation category 'violence' maps to unknown clause 'protect.murder'",
            id="unknown-clause-in-moderation",
        ),
        pytest.param(
            MINI.replace("[moderation]\n", '[moderation]\n"spam" = ["protect.threats"]\n'),
            "unknown moderation category 'spam'",
            id="unknown-moderation-category",
        ),
        pytest.param(
            MINI.replace("severity = 2", "severity = 5"),
            "clause 'protect.threats': severity 5 is not between 1 and 4",
            id="severity-out-of-range",
        ),
        pytest.param(
            MINI.replace('id = "protect.threats"', 'id = "privacy.threats"'),
            "clause ids must read 'protect.<name>'",
            id="clause-outside-its-group",
        ),
        pytest.param(
            MINI.replace(CLAUSE, CLAUSE + CLAUSE),
            "duplicate clause id 'protect.threats'",
            id="duplicate-clause",
        ),
        pytest.param(
            MINI.replace(
                CLAUSE,
                CLAUSE + '\n[[groups.clauses.subclauses]]\nid = "protect.other.housing"\n'
                'label = "Housing"\ndescription = "Housing."\n',
            ),
            "sub-clause ids must read 'protect.threats.<name>'",
            id="subclause-outside-its-clause",
        ),
        pytest.param(
            MINI.replace("retention_days = 400", 'retention_days = "long"'),
            "'retention_days' must be a TOML integer, not string",
            id="retention-not-a-number",
        ),
        pytest.param(
            MINI.replace("retention_days = 400", "retention_days = 0"),
            "retention_days 0 is shorter than",
            id="retention-zero",
        ),
        pytest.param(
            MINI.replace("severity = 2", "severity = 2.0"),
            "'severity' must be a TOML integer, not float",
            id="float-severity",
        ),
    ],
)
def test_broken_policies_are_refused(text, expected):
    with pytest.raises(DefinitionError) as refused:
        parse_policy(text, source="policy.toml", workflows=WORKFLOW_NAMES)
    assert any(p.startswith("policy.toml: ") and expected in p for p in refused.value.problems), (
        refused.value.problems
    )


def test_reports_cannot_be_routed_into_the_provider_inquiry_workflow():
    from cases.lifecycle.deployed import Definitions, definition_dirs

    workflows = Definitions(definition_dirs("/nonexistent")).workflows
    with pytest.raises(DefinitionError) as refused:
        parse_policy(
            MINI.replace('workflow = "standard"', 'workflow = "provider_inquiry"'),
            source="policy.toml",
            workflows=workflows,
        )
    assert any("is for provider inquiries, not reports" in p for p in refused.value.problems)
