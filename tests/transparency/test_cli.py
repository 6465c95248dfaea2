"""`flask --app app transparency report --from --to [--format json|csv]`."""

import json

import pytest

from cases.transparency.service import figures_csv, transparency_figures
from tests.transparency.conftest import MARCH
from tests.transparency.test_figures import EXPECTED

MONTH = ["transparency", "report", "--from", "2026-03-01", "--to", "2026-03-31"]


def test_json_is_the_default(runner, march):
    result = runner.invoke(args=MONTH)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == EXPECTED


def test_csv(runner, session, march):
    result = runner.invoke(args=[*MONTH, "--format", "csv"])
    assert result.exit_code == 0, result.output
    start, end = MARCH
    printed = result.stdout_bytes.decode()  # `output` turns CSV's CRLF into LF
    assert printed == figures_csv(transparency_figures(session, start=start, end=end))
    assert printed.startswith("figure,key,value\r\nperiod,from,2026-03-01T00:00:00+00:00\r\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-04-01", "--to", "2026-03-01"], "last day comes before the first"),
        (["--from", "2026-03-02", "--to", "2026-03-01"], "last day comes before the first"),
        (["--from", "0001-01-01", "--to", "2026-03-01"], "from 2000-01-01 to 2100-12-31"),
        (["--from", "2026-03-01", "--to", "9999-12-31"], "from 2000-01-01 to 2100-12-31"),
        (["--from", "2026-03-01", "--to", "2101-01-01"], "from 2000-01-01 to 2100-12-31"),
        (["--from", "2026-02-30", "--to", "2026-03-01"], "'2026-02-30' does not match"),
        (["--from", "March", "--to", "2026-03-01"], "'March' does not match"),
        (["--from", "2026-03-01"], "Missing option '--to'"),
        (["--from", "2026-03-01", "--to", "2026-03-31", "--format", "xml"], "'xml' is not one"),
    ],
)
def test_bad_periods_exit_2_with_a_message(runner, args, message):
    result = runner.invoke(args=["transparency", "report", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_the_option_at_fault_is_named(runner):
    result = runner.invoke(
        args=["transparency", "report", "--from", "1999-12-31", "--to", "2026-03-01"]
    )
    assert result.exit_code == 2 and "--from" in result.output


def test_the_last_day_is_counted_to_its_end(runner, march):
    """I's report came in at 23:00 on the 31st: in March, not in the 1st of April."""
    last_day = runner.invoke(
        args=["transparency", "report", "--from", "2026-03-31", "--to", "2026-03-31"]
    )
    next_day = runner.invoke(
        args=["transparency", "report", "--from", "2026-04-01", "--to", "2026-04-01"]
    )
    assert last_day.exit_code == next_day.exit_code == 0, last_day.output + next_day.output
    first, second = json.loads(last_day.output), json.loads(next_day.output)
    assert first["period"] == {
        "from": "2026-03-31T00:00:00+00:00",
        "to": "2026-04-01T00:00:00+00:00",
    }
    assert first["cases_opened"] == 1 and first["decisions"] == 0
    assert second["decisions_by_restriction"]["termination"] == 1
