"""The priority score that orders the queues, and its explanation for the case page.

score = severity + source reliability + reporters + prior enforcement + age, where
- severity: 400, 300, 200 or 100 points for severity 1 (most severe) to 4;
- source reliability: a provider notice 120, an internal referral 90, a classifier detection up to
  100 in proportion to its top score, a user report 40;
- reporters: 60 × log2(1 + weighed reporters), so the tenth reporter adds far less than the second.
  A verified reporter (an integration, known by its API key) weighs 1. An anonymous one (anyone
  else: a notice from the public, whose name and email nobody has confirmed) weighs a third, and
  all of them together at most 3 (`ANONYMOUS_CAP`), so no number of notices, from however many
  addresses, adds more than three verified reporters would: the reporters factor of a case known
  only from the public is at most 120 points, 60 more than one notice's. A case's reporters weigh
  at least 1, so a single notice is not scored below a single detection for want of
  corroboration;
- prior enforcement: 50 per earlier enforced case about the same subject, at most 4 counted;
- age: 2 per hour since the case opened, at most 100 (old cases rise so none starves).
Bands: p1 from 500, p2 from 350, p3 from 200, otherwise p4; SLA targets are set per band.
"""

import math
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from cases.enums import ReportSource

SEVERITY_POINTS = {1: 400, 2: 300, 3: 200, 4: 100}
SOURCE_POINTS = {
    ReportSource.provider_notice: 120,
    ReportSource.internal: 90,
    ReportSource.user_report: 40,
}
CLASSIFIER_MAX = 100
REPORTER_WEIGHT = 60
ANONYMOUS_WEIGHT, ANONYMOUS_CAP = Fraction(1, 3), 3
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


def weighed_reporters(reporters: int, anonymous: int) -> Fraction:
    """What `reporters` distinct reporters, `anonymous` of them anonymous, count for."""
    counted = reporters - anonymous + min(ANONYMOUS_CAP, anonymous * ANONYMOUS_WEIGHT)
    return max(Fraction(min(reporters, 1)), counted)


def _reporters_why(reporters: int, anonymous: int, weighed: Fraction) -> str:
    why = f"{reporters} distinct reporter{'s' if reporters != 1 else ''}"
    if anonymous:
        why += f" ({anonymous} anonymous), counted as {float(weighed):.1f}"
    return why


def priority(
    *,
    severity: int,
    source: str,
    top_score: int,
    reporters: int,
    prior_enforced: int,
    opened_at: datetime,
    now: datetime,
    anonymous: int = 0,
) -> PriorityScore:
    """The score, its band and each factor's share (`top_score` in basis points; `anonymous`:
    how many of the distinct `reporters` are anonymous)."""
    if source == ReportSource.classifier:
        reliability = round(CLASSIFIER_MAX * top_score / 10_000)
        reliability_why = f"classifier detection, top score {top_score / 100:.1f}%"
    else:
        reliability = SOURCE_POINTS[ReportSource(source)]
        reliability_why = ReportSource(source).replace("_", " ")
    hours = max(0, int((now - opened_at).total_seconds() // 3600))
    counted_prior = min(prior_enforced, PRIOR_CAP)
    weighed = weighed_reporters(reporters, anonymous)
    factors = (
        Factor("severity", SEVERITY_POINTS[severity], f"severity {severity} of 4 (1 is worst)"),
        Factor("source", reliability, reliability_why),
        Factor(
            "reporters",
            round(REPORTER_WEIGHT * math.log2(1 + weighed)),
            _reporters_why(reporters, anonymous, weighed),
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
