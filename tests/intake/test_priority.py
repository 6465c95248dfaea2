"""The priority formula (cases/priority.py): each factor, the bands, and diminishing returns."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from cases.enums import ReportSource, Restriction
from cases.intake.moderation import parse_moderation
from cases.intake.priority import priority
from cases.intake.service import IntakeItem, SubjectRef, receive
from cases.lifecycle.actors import Actor
from cases.models import Case, Decision
from tests.factories import make_case
from tests.intake.conftest import moderation_response

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CLASSIFIER, USER, PROVIDER, INTERNAL = (
    ReportSource.classifier,
    ReportSource.user_report,
    ReportSource.provider_notice,
    ReportSource.internal,
)


@pytest.mark.parametrize(
    ("severity", "source", "top_score", "reporters", "prior", "age", "score", "band"),
    [
        # severity 400 + classifier 97 + one reporter 60
        (1, CLASSIFIER, 9700, 1, 0, timedelta(0), 557, "p1"),
        # 100 + user report 40 + 60: exactly the p3 floor
        (4, USER, 0, 1, 0, timedelta(0), 200, "p3"),
        # 100 + classifier 10 + 60: under every floor
        (4, CLASSIFIER, 1000, 1, 0, timedelta(0), 170, "p4"),
        # 200 + provider notice 120 + 60
        (3, PROVIDER, 0, 1, 0, timedelta(0), 380, "p2"),
        # 300 + internal 90 + three reporters 60·log2(4) = 120
        (2, INTERNAL, 0, 3, 0, timedelta(0), 510, "p1"),
        # 300 + 50 + two reporters round(60·log2(3)) = 95: just under p1
        (2, CLASSIFIER, 5000, 2, 0, timedelta(0), 445, "p2"),
        # 100 + 40 + ten reporters round(60·log2(11)) = 208
        (4, USER, 0, 10, 0, timedelta(0), 348, "p3"),
        # prior enforcement: 50 each, at most 4 counted → 100 + 0 + 60 + 200
        (4, CLASSIFIER, 0, 1, 7, timedelta(0), 360, "p2"),
        (4, CLASSIFIER, 0, 1, 1, timedelta(0), 210, "p3"),
        # age: 2 per whole hour, at most 100
        (4, USER, 0, 1, 0, timedelta(minutes=59), 200, "p3"),
        (4, USER, 0, 1, 0, timedelta(hours=10), 220, "p3"),
        (4, USER, 0, 1, 0, timedelta(days=30), 300, "p3"),
        (3, USER, 0, 1, 0, timedelta(hours=50), 400, "p2"),
    ],
)
def test_the_score_and_band(severity, source, top_score, reporters, prior, age, score, band):
    result = priority(
        severity=severity,
        source=source,
        top_score=top_score,
        reporters=reporters,
        prior_enforced=prior,
        opened_at=NOW - age,
        now=NOW,
    )
    assert (result.score, result.band) == (score, band)
    assert sum(f.points for f in result.factors) == result.score


def reporter_points(reporters: int) -> int:
    result = priority(
        severity=4,
        source=USER,
        top_score=0,
        reporters=reporters,
        prior_enforced=0,
        opened_at=NOW,
        now=NOW,
    )
    return next(f.points for f in result.factors if f.name == "reporters")


def test_each_further_reporter_adds_less():
    gains = [reporter_points(n + 1) - reporter_points(n) for n in range(1, 30)]
    assert all(gain > 0 for gain in gains[:10])
    # Non-increasing, give or take the rounding of each total to whole points.
    assert all(later <= earlier + 1 for earlier, later in zip(gains, gains[1:], strict=False))
    # The second reporter is worth far more than the twentieth.
    assert gains[0] >= 5 * gains[18]


def test_every_factor_is_explained():
    result = priority(
        severity=2,
        source=CLASSIFIER,
        top_score=8800,
        reporters=3,
        prior_enforced=2,
        opened_at=NOW - timedelta(hours=5),
        now=NOW,
    )
    explained = {f.name: f.why for f in result.factors}
    assert set(explained) == {"severity", "source", "reporters", "prior enforcement", "age"}
    assert "88.0%" in explained["source"] and explained["reporters"] == "3 distinct reporters"
    assert explained["prior enforcement"] == "2 earlier enforced cases"


def _detection(subject: str, api_key_id: int, source: str, score: float) -> IntakeItem:
    body = moderation_response({"harassment": score})
    return IntakeItem(
        source=CLASSIFIER,
        subject=SubjectRef(kind="account", external_id=subject),
        raw_payload=json.dumps(body),
        moderation=parse_moderation(body),
        source_name=source,
        api_key_id=api_key_id,
    )


def test_intake_scores_a_case_from_its_reports_and_the_subjects_history(session, integration):
    key_id = integration[0].id
    subject_id = make_case(
        session, state="closed", stage="resolved", subject_id="user-9"
    ).subject_id
    for number, restriction in enumerate(
        (Restriction.termination, Restriction.warn, Restriction.no_action)
    ):
        earlier = Case(
            reference=f"DK-2025-{number:06d}",
            subject_id=subject_id,
            workflow_name="standard",
            workflow_version=1,
            workflow_digest="0" * 64,
            state="closed",
            stage="resolved",
        )
        session.add(earlier)
        session.flush()
        session.add(
            Decision(case_id=earlier.id, policy_clause="protect.threats", restriction=restriction)
        )
    session.flush()
    actor = Actor.system("test")

    first = receive(session, item=_detection("user-9", key_id, "a", 0.8), actor=actor, now=NOW)
    # severity 2 → 300, classifier 80, one reporter 60, two enforced earlier cases 100
    assert (first.case.priority, first.case.priority_band) == (540, "p1")

    later = NOW + timedelta(hours=3)
    second = receive(session, item=_detection("user-9", key_id, "b", 0.6), actor=actor, now=later)
    # The latest report's source scores (60); two reporters 95; open 3 h: 6.
    assert second.case.id == first.case.id
    assert second.case.priority == 300 + 60 + 95 + 100 + 6
