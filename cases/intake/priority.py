"""The priority score that orders the queues, and its explanation for the case page.

score = severity + source reliability + reporters + prior enforcement + age, where
- severity: 400, 300, 200 or 100 points for severity 1 (most severe) to 4;
- source reliability: a provider notice 120, an internal referral 90, a classifier detection up to
  100 in proportion to its top score, a user report 40;
- reporters: 60 × log2(1 + distinct reporters), so the tenth reporter adds far less than the second;
- prior enforcement: 50 per earlier enforced case about the same subject, at most 4 counted;
- age: 2 per hour since the case opened, at most 100 (old cases rise so none starves).
Bands: p1 from 500, p2 from 350, p3 from 200, otherwise p4; SLA targets are set per band.
"""

import math
from dataclasses import dataclass
from datetime import datetime

from cases.enums import ReportSource

SEVERITY_POINTS = {1: 400, 2: 300, 3: 200, 4: 100}
SOURCE_POINTS = {
    ReportSource.provider_notice: 120,
    ReportSource.internal: 90,
    ReportSource.user_report: 40,
}
CLASSIFIER_MAX = 100
REPORTER_WEIGHT = 60
PRIOR_POINTS, PRIOR_CAP = 50, 4
AGE_POINTS_PER_HOUR, AGE_CAP = 2, 100
BANDS = ((500, "p1"), (350, "p2"), (200, "p3"))


@dataclass(frozen=True)
class Factor:
    name: str
    points: int
    why: str


@dataclass(frozen=True)
class PriorityScore:
    score: int
    band: str
    factors: tuple[Factor, ...]


def priority(
    *,
    severity: int,
    source: str,
    top_score: int,
    reporters: int,
    prior_enforced: int,
    opened_at: datetime,
    now: datetime,
) -> PriorityScore:
    """The score, its band and each factor's share (`top_score` in basis points)."""
    if source == ReportSource.classifier:
        reliability = round(CLASSIFIER_MAX * top_score / 10_000)
        reliability_why = f"classifier detection, top score {top_score / 100:.1f}%"
    else:
        reliability = SOURCE_POINTS[ReportSource(source)]
        reliability_why = ReportSource(source).replace("_", " ")
    hours = max(0, int((now - opened_at).total_seconds() // 3600))
    counted_prior = min(prior_enforced, PRIOR_CAP)
    factors = (
        Factor("severity", SEVERITY_POINTS[severity], f"severity {severity} of 4 (1 is worst)"),
        Factor("source", reliability, reliability_why),
        Factor(
            "reporters",
            round(REPORTER_WEIGHT * math.log2(1 + reporters)),
            f"{reporters} distinct reporter{'s' if reporters != 1 else ''}",
        ),
        Factor(
            "prior enforcement",
            PRIOR_POINTS * counted_prior,
            f"{prior_enforced} earlier enforced case{'s' if prior_enforced != 1 else ''}",
        ),
        Factor("age", min(AGE_CAP, AGE_POINTS_PER_HOUR * hours), f"open {hours} h"),
    )
    score = sum(f.points for f in factors)
    band = next((name for floor, name in BANDS if score >= floor), "p4")
    return PriorityScore(score=score, band=band, factors=factors)
