"""The transparency page's period, read from the query string (`from`, `to`: days, both
included) so that a period is a link: the page, its CSV and its JSON answer the same URL
parameters."""

from datetime import date, datetime

from wtforms import DateField, Form

from cases.core.errors import InputInvalid
from cases.core.periods import DAY_FORMAT, EARLIEST_DAY, LATEST_DAY, last_full_month, period_of_days
from cases.core.sqltypes import utcnow


def _default_first() -> date:
    return last_full_month(utcnow().date())[0]


def _default_last() -> date:
    return last_full_month(utcnow().date())[1]


class PeriodForm(Form):
    """From a day to another, both included; the last full calendar month by default. A day left
    out takes its default; one given empty or malformed is refused by the field."""

    # The field names are those of `period_of_days`, so that its InputInvalid names one of them.
    first = DateField(
        "From",
        name="from",
        format=DAY_FORMAT,
        default=_default_first,
        description=f"YYYY-MM-DD, from {EARLIEST_DAY} to {LATEST_DAY}.",
    )
    last = DateField(
        "To (included)",
        name="to",
        format=DAY_FORMAT,
        default=_default_last,
        description="The last day counted (YYYY-MM-DD).",
    )

    period: tuple[datetime, datetime]
    """[start, end) in UTC, once `validate()` passed."""

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        try:
            self.period = period_of_days(first=self.first.data, last=self.last.data)
        except InputInvalid as exc:
            self[exc.field].errors.append(str(exc))
            return False
        return True
