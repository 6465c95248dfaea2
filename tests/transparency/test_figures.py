"""Every transparency figure against the synthetic March of `conftest.py`, whose answers are
known: whole, under clauses (a clause with its sub-clauses, a group), for an empty period, and
the CSV form of the same figures."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from cases.core.errors import InputInvalid
from cases.transparency.service import figures_csv, transparency_figures
from tests.transparency.conftest import MARCH

ZERO_RESTRICTIONS = {
    "warn": 0,
    "content_removal": 0,
    "feature_restriction": 0,
    "temporary_suspension": 0,
    "termination": 0,
    "api_key_revocation": 0,
    "no_action": 0,
}
PERIOD = {"from": "2026-03-01T00:00:00+00:00", "to": "2026-04-01T00:00:00+00:00"}
EXPECTED = {
    "period": PERIOD,
    "clauses": None,
    # A, B, C, D, E, K, N, S1, S2 and I; not P0 or H (February), J or N2 (April), Q (inquiry).
    "cases_opened": 10,
    "notices": 6,
    "notices_by_source": {"user_report": 5, "provider_notice": 1},
    "notices_by_category": {
        "STATEMENT_CATEGORY_CYBER_VIOLENCE": 2,
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS": 1,
        "STATEMENT_CATEGORY_OTHER_VIOLATION_TC": 1,
        "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS": 1,
        "STATEMENT_CATEGORY_VIOLENCE": 1,
    },
    "notices_by_clause": {
        "empower.high_stakes_automation.medical": 1,
        "privacy.private_information": 1,
        "protect.illicit": 1,
        "protect.threats": 2,
        "protect.violence": 1,
    },
    "notices_by_group": {"empower": 1, "privacy": 1, "protect": 4},
    # Classifier: A's second report, C, D, N; internal: S2 (H's came in February).
    "own_initiative_detections": 5,
    "own_initiative_by_source": {"classifier": 4, "internal": 1},
    # H, A, B, C, A's partial reversal, D, D's reversal, E; not I's (1 April, 00:00).
    "decisions": 8,
    "decisions_by_restriction": {
        **ZERO_RESTRICTIONS,
        "warn": 2,
        "content_removal": 1,
        "feature_restriction": 1,
        "temporary_suspension": 1,
        "api_key_revocation": 1,
        "no_action": 2,
    },
    "decisions_by_ground": {"contractual": 7, "legal": 1},
    "automated_detection_share": 0.25,  # A and D of 8
    "automated_decision_share": 0.125,  # D of 8
    # First decisions: E 1 h, C 2 h, H 3 h, A 4 h, D 6 h, B 10 h: an even count.
    "median_hours_to_action": 3.5,
    "appeals": {
        "received": 5,  # A, B, D, E, H
        "decided": 5,  # P0, B upheld; A partially reversed; D reversed; E omitted
        "upheld": 2,
        "partially_reversed": 1,
        "reversed": 1,
        "omitted": 1,
        "median_hours_to_decide": 24.0,  # of 6, 12, 24, 36 and 480: an odd count
    },
    "ncmec_reports": 1,
    "sla_breaches_by_queue": {"child_safety": 1, "triage": 3},
}


def figures(session, clauses=None, period=MARCH):
    start, end = period
    return transparency_figures(session, start=start, end=end, clauses=clauses)


def test_every_figure_of_the_month(session, march):
    result = figures(session)
    assert result.as_dict() == EXPECTED
    assert json.loads(json.dumps(result.as_dict())) == EXPECTED


def test_a_clause_counts_its_own_and_even_medians(session, march):
    assert figures(session, ["protect.threats"]).as_dict() == {
        "period": PERIOD,
        "clauses": ["protect.threats"],
        "cases_opened": 3,  # A, D, I
        "notices": 2,
        "notices_by_source": {"user_report": 2, "provider_notice": 0},
        "notices_by_category": {"STATEMENT_CATEGORY_CYBER_VIOLENCE": 2},
        "notices_by_clause": {"protect.threats": 2},
        "notices_by_group": {"protect": 2},
        "own_initiative_detections": 2,
        "own_initiative_by_source": {"classifier": 2, "internal": 0},
        "decisions": 4,
        "decisions_by_restriction": {
            **ZERO_RESTRICTIONS,
            "warn": 2,
            "temporary_suspension": 1,
            "no_action": 1,
        },
        "decisions_by_ground": {"contractual": 4, "legal": 0},
        "automated_detection_share": 0.5,
        "automated_decision_share": 0.25,
        "median_hours_to_action": 5.0,  # A 4 h, D 6 h
        "appeals": {
            "received": 2,
            "decided": 2,
            "upheld": 0,
            "partially_reversed": 1,
            "reversed": 1,
            "omitted": 0,
            "median_hours_to_decide": 30.0,  # A 36 h, D 24 h
        },
        "ncmec_reports": 0,
        "sla_breaches_by_queue": {},
    }


def test_a_clause_includes_its_sub_clauses(session, march):
    assert figures(session, ["empower.high_stakes_automation"]).as_dict() == {
        "period": PERIOD,
        "clauses": ["empower.high_stakes_automation"],
        "cases_opened": 1,
        "notices": 1,
        "notices_by_source": {"user_report": 1, "provider_notice": 0},
        "notices_by_category": {"STATEMENT_CATEGORY_OTHER_VIOLATION_TC": 1},
        "notices_by_clause": {"empower.high_stakes_automation.medical": 1},
        "notices_by_group": {"empower": 1},
        "own_initiative_detections": 0,
        "own_initiative_by_source": {"classifier": 0, "internal": 0},
        "decisions": 1,
        "decisions_by_restriction": {**ZERO_RESTRICTIONS, "feature_restriction": 1},
        "decisions_by_ground": {"contractual": 1, "legal": 0},
        "automated_detection_share": 0.0,
        "automated_decision_share": 0.0,
        "median_hours_to_action": 1.0,
        "appeals": {
            "received": 1,
            "decided": 1,
            "upheld": 0,
            "partially_reversed": 0,
            "reversed": 0,
            "omitted": 1,
            "median_hours_to_decide": 6.0,
        },
        "ncmec_reports": 0,
        "sla_breaches_by_queue": {},
    }
    medical = figures(session, ["empower.high_stakes_automation.medical"]).as_dict()
    housing = figures(session, ["empower.high_stakes_automation.housing"]).as_dict()
    assert (medical["notices"], medical["decisions"], housing["notices"]) == (1, 1, 0)


def test_a_group_and_several_clauses(session, march):
    minors = figures(session, ["minors"])
    assert (minors.cases_opened, minors.own_initiative_by_source["classifier"]) == (1, 1)
    assert (minors.ncmec_reports, minors.sla_breaches_by_queue) == (1, {"child_safety": 1})
    assert minors.notices == minors.decisions == 0
    both = figures(session, ["minors.csam", "privacy"])
    assert both.sla_breaches_by_queue == {"child_safety": 1, "triage": 1}  # N and S1
    assert both.clauses == ("minors.csam", "privacy")
    assert both.appeals.upheld == 1 and both.appeals.median_hours_to_decide == 480.0  # P0
    assert figures(session, []).as_dict() == EXPECTED, "no clauses: all of them"


def test_an_empty_period(session, march):
    empty = figures(
        session, period=(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    )
    assert empty.as_dict() == {
        "period": {"from": "2025-01-01T00:00:00+00:00", "to": "2025-02-01T00:00:00+00:00"},
        "clauses": None,
        "cases_opened": 0,
        "notices": 0,
        "notices_by_source": {"user_report": 0, "provider_notice": 0},
        "notices_by_category": {},
        "notices_by_clause": {},
        "notices_by_group": {},
        "own_initiative_detections": 0,
        "own_initiative_by_source": {"classifier": 0, "internal": 0},
        "decisions": 0,
        "decisions_by_restriction": ZERO_RESTRICTIONS,
        "decisions_by_ground": {"contractual": 0, "legal": 0},
        "automated_detection_share": None,
        "automated_decision_share": None,
        "median_hours_to_action": None,
        "appeals": {
            "received": 0,
            "decided": 0,
            "upheld": 0,
            "partially_reversed": 0,
            "reversed": 0,
            "omitted": 0,
            "median_hours_to_decide": None,
        },
        "ncmec_reports": 0,
        "sla_breaches_by_queue": {},
    }


def test_the_boundaries_are_half_open(session, march):
    """1 March 00:00 counts in March, 1 April 00:00 in April (H's decision, K's notice; I's
    decision, J's notice, N2's CyberTipline report)."""
    april = figures(session, period=(MARCH[1], datetime(2026, 5, 1, tzinfo=UTC)))
    assert april.notices_by_source == {"user_report": 1, "provider_notice": 0}  # J
    assert april.decisions_by_restriction["termination"] == 1  # I
    assert april.median_hours_to_action == 1.0  # I: 31 March 23:00 to 1 April 00:00
    assert april.ncmec_reports == 1  # N2
    assert april.appeals.upheld == 1 and april.appeals.median_hours_to_decide == 72.0  # H
    day_one = figures(session, period=(MARCH[0], datetime(2026, 3, 1, 1, tzinfo=UTC)))
    assert day_one.notices_by_source == {"user_report": 0, "provider_notice": 1}  # K
    assert day_one.decisions_by_restriction["api_key_revocation"] == 1  # H


def test_the_period_must_not_be_empty_or_naive(session):
    with pytest.raises(InputInvalid) as refused:
        transparency_figures(session, start=MARCH[1], end=MARCH[0])
    assert refused.value.field == "end"
    with pytest.raises(ValueError, match="aware"):
        transparency_figures(session, start=datetime(2026, 3, 1), end=datetime(2026, 4, 1))


def test_the_csv_has_one_row_per_figure(session, march):
    rows = list(csv.reader(io.StringIO(figures_csv(figures(session, ["protect.threats"])))))
    assert rows[0] == ["figure", "key", "value"]
    body = {(figure, key): value for figure, key, value in rows[1:]}
    assert len(body) == len(rows) - 1, "no row twice"
    assert body[("period", "from")] == PERIOD["from"]
    assert body[("clauses", "")] == "protect.threats"
    assert body[("cases_opened", "")] == "3"
    assert body[("notices_by_category", "STATEMENT_CATEGORY_CYBER_VIOLENCE")] == "2"
    assert body[("decisions_by_restriction", "termination")] == "0"
    assert body[("automated_detection_share", "")] == "0.5"
    assert body[("median_hours_to_action", "")] == "5.0"
    assert body[("appeals", "median_hours_to_decide")] == "30.0"
    assert not [key for figure, key in body if figure == "sla_breaches_by_queue"]
    empty = dict(
        ((f, k), v)
        for f, k, v in list(csv.reader(io.StringIO(figures_csv(figures(session, ["nothing"])))))[1:]
    )
    assert empty[("median_hours_to_action", "")] == "" and empty[("clauses", "")] == "nothing"
