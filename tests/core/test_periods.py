"""A period as people name it (`cases.core.periods`): days from the first to the last, both
included, turned into the half-open [start, end) the services take; its checks; and `--from` /
`--to` on every command that takes a period."""

from datetime import UTC, date, datetime

import click
import pytest
from click.testing import CliRunner

from cases.core.errors import InputInvalid
from cases.core.periods import last_full_month, period_of_days, period_options

MARCH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def test_the_last_day_is_included():
    assert period_of_days(first=date(2026, 3, 1), last=date(2026, 3, 31)) == MARCH


def test_the_same_day_is_one_day():
    assert period_of_days(first=date(2024, 2, 29), last=date(2024, 2, 29)) == (
        datetime(2024, 2, 29, tzinfo=UTC),
        datetime(2024, 3, 1, tzinfo=UTC),
    )


def test_the_last_day_of_the_range_ends_at_the_next_midnight():
    start, end = period_of_days(first=date(2000, 1, 1), last=date(2100, 12, 31))
    assert (start, end) == (datetime(2000, 1, 1, tzinfo=UTC), datetime(2101, 1, 1, tzinfo=UTC))
    assert start.tzinfo is UTC and end.tzinfo is UTC


@pytest.mark.parametrize(
    ("first", "last", "field", "message"),
    [
        (date(2026, 4, 1), date(2026, 3, 1), "last", "The last day comes before the first."),
        (date(2026, 3, 2), date(2026, 3, 1), "last", "The last day comes before the first."),
        (date(1999, 12, 31), date(2026, 3, 1), "first", "from 2000-01-01 to 2100-12-31"),
        (date(1, 1, 1), date(2026, 3, 1), "first", "from 2000-01-01 to 2100-12-31"),
        (date(2026, 3, 1), date(2101, 1, 1), "last", "from 2000-01-01 to 2100-12-31"),
        (date(2026, 3, 1), date(9999, 12, 31), "last", "from 2000-01-01 to 2100-12-31"),
        # Out of range and reversed: the day out of range is named first.
        (date(2101, 1, 1), date(2026, 3, 1), "first", "from 2000-01-01 to 2100-12-31"),
    ],
)
def test_refused_periods_name_the_field_at_fault(first, last, field, message):
    with pytest.raises(InputInvalid, match=message) as refused:
        period_of_days(first=first, last=last)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 4, 15), (date(2026, 3, 1), date(2026, 3, 31))),
        (date(2026, 4, 1), (date(2026, 3, 1), date(2026, 3, 31))),
        (date(2026, 1, 1), (date(2025, 12, 1), date(2025, 12, 31))),
        (date(2026, 3, 31), (date(2026, 2, 1), date(2026, 2, 28))),
        (date(2024, 3, 10), (date(2024, 2, 1), date(2024, 2, 29))),
        (date(2026, 5, 31), (date(2026, 4, 1), date(2026, 4, 30))),
    ],
)
def test_the_last_full_month(today, expected):
    assert last_full_month(today) == expected
    assert period_of_days(first=expected[0], last=expected[1])[1] == datetime(
        today.year, today.month, 1, tzinfo=UTC
    )


def command(required: bool) -> click.Command:
    @click.command()
    @period_options(required=required)
    @click.option("--name", default="x")
    def show(period, name):
        click.echo(f"{name} {period}")

    return show


def test_the_options_give_the_command_the_half_open_period():
    result = CliRunner().invoke(command(True), ["--from", "2026-03-01", "--to", "2026-03-31"])
    assert result.exit_code == 0, result.output
    assert result.output == f"x {MARCH}\n"


def test_optional_days_given_neither_are_none_and_one_alone_is_refused():
    result = CliRunner().invoke(command(False), ["--name", "y"])
    assert (result.exit_code, result.output) == (0, "y None\n")
    result = CliRunner().invoke(command(False), ["--to", "2026-03-31"])
    assert result.exit_code == 2 and "Missing option '--from'" in result.output


def test_required_days_are_required():
    result = CliRunner().invoke(command(True), ["--from", "2026-03-01"])
    assert result.exit_code == 2 and "Missing option '--to'" in result.output


COMMANDS = {
    "transparency report": ["transparency", "report"],
    "dsa export": ["dsa", "export", "--out", "{tmp}/statements.json"],
    "dsa submit": ["dsa", "submit"],
    "dossier": ["dossier", "--out", "{tmp}/dossier.json"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_says_both_days_are_included(runner, name):
    result = runner.invoke(args=[*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    help_text = " ".join(result.output.split())
    assert "--from YYYY-MM-DD first day, included" in help_text
    assert "--to YYYY-MM-DD last day, included" in help_text
    assert "not includ" not in help_text


@pytest.mark.parametrize(
    ("days", "message"),
    [
        (["--from", "2026-02-30", "--to", "2026-03-31"], "Invalid value for '--from'"),
        (["--from", "March", "--to", "2026-03-31"], "Invalid value for '--from'"),
        (["--from", "2026-03-01", "--to", "31/03/2026"], "Invalid value for '--to'"),
        (["--from", "2026-03-01", "--to", "<script>"], "Invalid value for '--to'"),
        (["--from", "2026-03-01T00:00", "--to", "2026-03-31"], "Invalid value for '--from'"),
        (["--from", "2026-03-01", "--to", "2026-02-28"], "Invalid value for '--to': The last"),
        (["--from", "1999-12-31", "--to", "2026-03-31"], "Invalid value for '--from': Give a"),
        (["--from", "2026-03-01", "--to", "2101-01-01"], "Invalid value for '--to': Give a"),
        (["--from", "2026-03-01"], "Missing option '--to'"),
        (["--to", "2026-03-31"], "Missing option '--from'"),
    ],
)
@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_bad_day_exits_2_naming_its_option(runner, tmp_path, name, days, message):
    folder = tmp_path / "out"
    folder.mkdir()
    args = [a.replace("{tmp}", str(folder)) for a in COMMANDS[name]]
    result = runner.invoke(args=[*args, *days])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert list(folder.iterdir()) == []
