"""The demo gives the transparency page and the dossier real content: several clause groups and
DSA categories, each restriction and ground, every appeal outcome, SLA breaches and a provider
inquiry, across at least two calendar months; and its trail verifies."""

from datetime import timedelta

from sqlmodel import select

from cases.audit.signing import signer
from cases.core.periods import period_of_days
from cases.core.sqltypes import utcnow
from cases.evidence.blobs import blob_store
from cases.models import ProviderInquiry
from cases.trail.audit import verify_trail
from cases.transparency.service import transparency_figures


def test_the_demo_fills_the_transparency_figures_over_two_months(app, runner, session):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "Demo history:" in result.output

    today = utcnow().date()
    last_month = today.replace(day=1) - timedelta(days=1)
    month_before = last_month.replace(day=1) - timedelta(days=1)
    months = [period_of_days(first=d.replace(day=1), last=d) for d in (last_month, month_before)]
    for start, end in months:
        figures = transparency_figures(session, start=start, end=end).as_dict()
        assert figures["cases_opened"] > 10, (start, figures["cases_opened"])
        assert len(figures["notices_by_category"]) >= 4
        assert figures["own_initiative_detections"] > 0
        assert figures["decisions_by_ground"]["legal"] > 0
        assert figures["decisions_by_ground"]["contractual"] > 0
        assert figures["median_hours_to_action"] is not None
        assert figures["appeals"]["received"] > 0

    start, end = period_of_days(first=today - timedelta(weeks=11), last=today)
    whole = transparency_figures(session, start=start, end=end).as_dict()
    assert all(
        whole["appeals"][outcome] > 0
        for outcome in ("upheld", "partially_reversed", "reversed", "omitted")
    )
    assert {"content_removal", "temporary_suspension", "termination", "warn"} <= {
        kind for kind, count in whole["decisions_by_restriction"].items() if count
    }
    assert sum(whole["sla_breaches_by_queue"].values()) > 0
    assert any(c.startswith("empower.high_stakes_automation.") for c in whole["notices_by_clause"])
    assert "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS" in whole["notices_by_category"]
    assert session.exec(select(ProviderInquiry)).one().clauses

    with app.app_context():
        report = verify_trail(session, verifier_key=signer().verifier_key, store=blob_store())
    assert report.events > 500
