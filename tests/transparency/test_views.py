"""/transparency, /transparency.csv and /transparency.json: who may see them, what the page
shows (charts as inline SVG without scripts or styles), the downloads, and hostile periods."""

import json
import re
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import time_machine

from cases.core.web import CONTENT_SECURITY_POLICY
from cases.enums import Role
from cases.transparency.service import figures_csv, transparency_figures
from tests.factories import make_api_key
from tests.transparency.conftest import MARCH
from tests.transparency.test_figures import EXPECTED

MONTH = "from=2026-03-01&to=2026-03-31"
URLS = ("/transparency", "/transparency.csv", "/transparency.json")
READERS = {Role.admin, Role.lead, Role.auditor}
SVG = re.compile(r"<svg\b.*?</svg>", re.S)


@pytest.mark.parametrize("role", list(Role))
def test_who_sees_the_figures(client, signed_in, role):
    signed_in(role)
    for url in URLS:
        response = client.get(f"{url}?{MONTH}")
        assert response.status_code == (200 if role in READERS else 403), url
    navigation = client.get("/").get_data(as_text=True)
    assert ('href="/transparency"' in navigation) is (role in READERS)


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in URLS:
        response = client.get(f"{url}?{MONTH}")
        assert response.status_code == 302 and "/login" in response.location


def test_an_api_key_is_not_accepted(client, session):
    _key, secret = make_api_key(session)
    session.commit()
    for url in URLS:
        response = client.get(f"{url}?{MONTH}", headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 302 and "/login" in response.location


def test_the_page_shows_every_figure_with_charts(client, signed_in, march):
    signed_in("lead")
    response = client.get(f"/transparency?{MONTH}")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    page = response.get_data(as_text=True)
    for label, value in [
        ("Cases opened", "10"),
        ("Notices received", "6"),
        ("Own-initiative detections", "5"),
        ("Decisions", "8"),
        ("Decisions on automated detection", "25.00 %"),
        ("Decisions taken by automated means", "12.50 %"),
        ("Median time from intake to first decision", "3.50 h"),
        ("Appeals received", "5"),
        ("Appeals decided", "5"),
        ("Median time to decide an appeal", "24.00 h"),
        ("NCMEC reports made", "1"),
    ]:
        assert f"<dt>{label}</dt><dd>{value}</dd>" in page
    charts = SVG.findall(page)
    assert len(charts) == 9, "one chart per breakdown, each has something to draw"
    for chart in charts:
        assert 'role="img"' in chart and "<title" in chart
        assert not re.search(r"<script|<style|\sstyle=|\son\w+=|javascript:", chart, re.I)
    assert "<script" not in page
    # The sub-clause by its own label, its id in the table; the breach counted in triage.
    assert '<code class="key">empower.high_stakes_automation.medical</code>' in page
    assert '<td>Medical</td><td class="num">1</td>' in page
    assert '<code class="key">triage</code></td><td>Triage</td><td class="num">3</td>' in page
    for url in ("/transparency.csv", "/transparency.json"):
        assert f'href="{url}?from=2026-03-01&amp;to=2026-03-31"' in page


def test_a_period_with_nothing_draws_no_chart(client, signed_in, march):
    signed_in("auditor")
    page = client.get("/transparency?from=2025-01-01&to=2025-01-31").get_data(as_text=True)
    assert "<svg" not in page and "None in this period." in page
    assert (
        '<dt>Median time from intake to first decision</dt><dd><span class="muted">no data' in page
    )


def test_one_day_is_a_period_with_its_last_moment(client, signed_in, march):
    """I's report came in on 31 March at 23:00; its decision at midnight belongs to April."""
    signed_in("auditor")
    page = client.get("/transparency?from=2026-03-31&to=2026-03-31").get_data(as_text=True)
    assert "From 2026-03-31 to 2026-03-31, both included" in page
    assert "<dt>Cases opened</dt><dd>1</dd>" in page and "<dt>Decisions</dt><dd>0</dd>" in page
    assert 'href="/transparency.json?from=2026-03-31&amp;to=2026-03-31"' in page


def test_the_default_period_is_the_last_full_month(client, signed_in):
    with time_machine.travel(datetime(2026, 4, 15, 9, tzinfo=UTC), tick=False):
        signed_in("admin")
        page = client.get("/transparency").get_data(as_text=True)
    assert 'name="from" type="date" value="2026-03-01"' in page
    assert 'name="to" type="date" value="2026-03-31"' in page
    assert '<label for="to">To (included)</label>' in page
    assert "From 2026-03-01 to 2026-03-31, both included" in page


def test_csv_download(client, session, signed_in, march):
    signed_in("lead")
    response = client.get(f"/transparency.csv?{MONTH}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="transparency-2026-03-01-to-2026-03-31.csv"'
    )
    start, end = MARCH
    expected = figures_csv(transparency_figures(session, start=start, end=end))
    assert response.get_data(as_text=True) == expected


def test_json_download(client, signed_in, march):
    signed_in("auditor")
    response = client.get(f"/transparency.json?{MONTH}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="transparency-2026-03-01-to-2026-03-31.json"'
    )
    assert json.loads(response.get_data()) == EXPECTED


NOT_A_DAY = "Not a valid date value."
RANGE = "Give a day from 2000-01-01 to 2100-12-31."
REVERSED = "The last day comes before the first."


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("from=2026-04-01&to=2026-03-01", "to", REVERSED),
        ("from=2026-03-02&to=2026-03-01", "to", REVERSED),
        ("from=2026-03-01&to=2101-01-01", "to", RANGE),
        ("from=0001-01-01&to=2026-03-01", "from", RANGE),
        ("from=2026-03-01&to=9999-12-31", "to", RANGE),
        ("from=1999-12-31&to=2026-03-01", "from", RANGE),
        ("from=" + quote("<script>alert(1)</script>") + "&to=2026-04-01", "from", NOT_A_DAY),
        ("from=2026-03-01&to=" + "9" * 100_000, "to", NOT_A_DAY),
        ("from=&to=2026-04-01", "from", NOT_A_DAY),
        ("from=2026-02-30&to=2026-04-01", "from", NOT_A_DAY),
        ("from=2026-03-01T00:00&to=2026-04-01", "from", NOT_A_DAY),
        ("from=2026-03-01&from=2026-03-02&to=2026-04-01", "from", NOT_A_DAY),
        ("from=%ff%fe%00&to=2026-04-01", "from", NOT_A_DAY),
        ("from=-2026-03-01&to=2026-04-01", "from", NOT_A_DAY),
    ],
)
@pytest.mark.parametrize("url", URLS)
def test_hostile_periods_are_refused_beside_the_field(
    client, signed_in, url, query, field, message
):
    signed_in("lead")
    response = client.get(f"{url}?{query}")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.get_data(as_text=True)
    assert f'<p class="error" id="{field}-error">{message}</p>' in page
    assert f'id="{field}"' in page and 'aria-invalid="true"' in page
    assert "<script>alert" not in page and "Download these figures" not in page
    assert "<svg" not in page
