"""Routing: a detection's moderation categories, or a notice's category, name a policy clause
(policy.toml), which names the workflow and the severity."""

import json

import pytest

from cases.enums import ReportSource
from cases.intake.moderation import parse_moderation
from cases.intake.service import IntakeError, IntakeItem, SubjectRef, receive, route
from cases.lifecycle.actors import Actor
from tests.intake.conftest import moderation_response
from workflows import ModerationCategory

ACTOR = Actor.system("test")

# category → (clause, workflow, severity), as workflows/definitions/policy.toml maps them.
ROUTES = {
    "harassment": ("protect.threats", "standard", 2),
    "harassment/threatening": ("protect.threats", "standard", 2),
    "hate": ("protect.threats", "standard", 2),
    "hate/threatening": ("protect.violence", "standard", 1),
    "illicit": ("protect.illicit", "standard", 2),
    "illicit/violent": ("protect.weapons", "standard", 1),
    "self-harm": ("protect.self_harm", "standard", 1),
    "self-harm/intent": ("protect.self_harm", "standard", 1),
    "self-harm/instructions": ("protect.self_harm", "standard", 1),
    "sexual": ("protect.sexual_violence", "standard", 1),
    "sexual/minors": ("minors.csam", "child_safety", 1),
    "violence": ("protect.violence", "standard", 1),
    "violence/graphic": ("protect.violence", "standard", 1),
}


def detected(scores: dict[str, float], *, flagged: tuple[str, ...] = ()) -> IntakeItem:
    body = moderation_response(scores)
    body["results"][0]["categories"].update(dict.fromkeys(flagged, True))
    return IntakeItem(
        source=ReportSource.classifier,
        subject=SubjectRef(kind="account", external_id="user-1"),
        raw_payload=json.dumps(body),
        moderation=parse_moderation(body),
        source_name="classifier",
        api_key_id=None,
    )


def test_the_table_covers_every_moderation_category():
    assert set(ROUTES) == {category.value for category in ModerationCategory}


@pytest.mark.parametrize(("category", "expected"), ROUTES.items(), ids=list(ROUTES))
def test_each_category_routes_per_the_policy(session, category, expected):
    clause_id, workflow, severity = expected
    outcome = receive(session, item=detected({category: 0.93}), actor=ACTOR)

    assert outcome.report.policy_clause == outcome.case.policy_clause == clause_id
    assert outcome.case.workflow_name == workflow
    assert outcome.case.restricted is (workflow == "child_safety")
    assert outcome.case.severity == severity


def test_the_highest_detected_category_wins(session):
    clause, severity = route(detected({"harassment": 0.7, "illicit/violent": 0.81}))
    assert (clause.id, severity) == ("protect.weapons", 1)


def test_a_provider_flag_counts_even_under_the_threshold(session):
    clause, severity = route(detected({"self-harm/intent": 0.3}, flagged=("self-harm/intent",)))
    assert (clause.id, severity) == ("protect.self_harm", 1)


@pytest.mark.parametrize(
    ("scores", "clause_id"),
    [({"hate": 0.31, "violence": 0.2}, "protect.threats"), ({"illicit": 0.49}, "protect.illicit")],
)
def test_nothing_over_the_threshold_routes_by_the_top_score_at_severity_4(
    session, scores, clause_id
):
    outcome = receive(session, item=detected(scores), actor=ACTOR)
    assert (outcome.case.policy_clause, outcome.case.severity) == (clause_id, 4)


@pytest.mark.parametrize(
    ("clause_id", "workflow", "severity"),
    [
        ("protect.gambling", "standard", 3),
        ("privacy.private_information", "standard", 2),
        ("minors.grooming", "child_safety", 1),
        ("minors.body_shaming", "standard", 3),
    ],
)
def test_a_notice_routes_by_its_category(session, clause_id, workflow, severity):
    item = IntakeItem(
        source=ReportSource.user_report,
        subject=SubjectRef(kind="content", external_id="https://x.example/1"),
        raw_payload="{}",
        clause_id=clause_id,
        explanation="seen",
        good_faith=True,
    )
    case = receive(session, item=item, actor=ACTOR).case
    assert (case.policy_clause, case.workflow_name, case.severity) == (
        clause_id,
        workflow,
        severity,
    )


def test_an_unknown_category_is_refused_by_field(session):
    item = IntakeItem(
        source=ReportSource.user_report,
        subject=SubjectRef(kind="content", external_id="c-1"),
        raw_payload="{}",
        clause_id="protect.nothing",
    )
    with pytest.raises(IntakeError) as refused:
        receive(session, item=item, actor=ACTOR)
    assert refused.value.field == "category"
