"""A period as people name it: whole UTC days, the first and the last both included
(`--from 2026-03-01 --to 2026-03-31` is March), on every command and form. Services take it
half-open, [start, end) in UTC, `end` the midnight after the last day, so that a moment belongs to
exactly one of two periods that follow each other."""

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import click

from cases.core.errors import InputInvalid

DAY_FORMAT = "%Y-%m-%d"
# Days a period may start or end on: wide enough for any real report, narrow enough that a typo
# such as year 0001 or 9999 is refused rather than answered with zeros.
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2100, 12, 31)
OUT_OF_RANGE = f"Give a day from {EARLIEST_DAY} to {LATEST_DAY}."
REVERSED = "The last day comes before the first."


def period_of_days(*, first: date, last: date) -> tuple[datetime, datetime]:
    """[midnight UTC of `first`, midnight UTC after `last`); InputInvalid, with the field at fault
    (`first` or `last`), for a day out of range or a last day before the first."""
    for day, field in ((first, "first"), (last, "last")):
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise InputInvalid(OUT_OF_RANGE, field=field)
    if last < first:
        raise InputInvalid(REVERSED, field="last")
    start = datetime.combine(first, time(), UTC)
    return start, datetime.combine(last + timedelta(days=1), time(), UTC)


def last_full_month(today: date) -> tuple[date, date]:
    """The first and the last day of the calendar month before `today`'s."""
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def period_options(required: bool = True) -> Callable:
    """Add `--from` and `--to` (days, both included) to a click command, which then receives
    `period`: [start, end) in UTC, or None when neither was given (only if not `required`).
    A wrong or missing day is a usage error (exit 2) naming its option."""
    day = click.DateTime(formats=[DAY_FORMAT])

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def run(*args, first: datetime | None, last: datetime | None, **kwargs):
            kwargs["period"] = _period(first, last)
            return command(*args, **kwargs)

        run = click.option(
            "--to",
            "last",
            type=day,
            required=required,
            metavar="YYYY-MM-DD",
            help="last day, included",
        )(run)
        return click.option(
            "--from",
            "first",
            type=day,
            required=required,
            metavar="YYYY-MM-DD",
            help="first day, included",
        )(run)

    return decorate


def _period(first: datetime | None, last: datetime | None) -> tuple[datetime, datetime] | None:
    if first is None and last is None:
        return None
    ctx = click.get_current_context()
    params = {param.name: param for param in ctx.command.params}
    # Optional days come both or not at all: one alone is as missing its pair as a required one.
    if first is None or last is None:
        raise click.MissingParameter(ctx=ctx, param=params["first" if first is None else "last"])
    try:
        return period_of_days(first=first.date(), last=last.date())
    except InputInvalid as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=params[exc.field]) from None


def last_day(end: datetime) -> str:
    """The last day a half-open period ending at `end` covers, as YYYY-MM-DD."""
    return (end - timedelta(microseconds=1)).date().isoformat()
