"""The inquiry pages' forms: record an inquiry, generate a dossier, record the answer."""

from datetime import UTC, date, datetime

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from cases.core.errors import InputInvalid
from cases.core.forms import plain_text
from cases.core.periods import (
    DAY_FORMAT,
    EARLIEST_DAY,
    LATEST_DAY,
    OUT_OF_RANGE,
    period_of_days,
)
from cases.inquiries.dossier import FORMATS
from cases.inquiries.service import REFERENCE_MAX, SUMMARY_MAX
from cases.lifecycle.deployed import definitions
from cases.review.notes import MAX_NOTE

MOMENT_FORMAT = "%Y-%m-%dT%H:%M"
FORMAT_LABELS = {"pdf": "PDF", "html": "HTML page", "json": "JSON"}
# The fields of the period, by the name `period_of_days` gives the one at fault.
PERIOD_FIELDS = {"first": "period_start", "last": "period_end"}


def clause_choices() -> list[SelectChoice]:
    """Every clause of the taxonomy, sub-clauses after their clause, grouped as the policy is."""
    policy = definitions().policy
    return [
        SelectChoice(clause.id, f"{clause.id} — {clause.title or clause.label}", optgroup=g.label)
        for g in policy.groups
        for clause in g.clauses
    ]


class InquiryForm(FlaskForm):
    provider_reference = StringField(
        "Provider's reference",
        validators=[
            plain_text,
            DataRequired("Give the reference the provider uses for this inquiry."),
            Length(max=REFERENCE_MAX),
        ],
        description="As the provider wrote it, e.g. their ticket or letter number.",
    )
    received_at = DateTimeLocalField(
        "Received (UTC)",
        format=MOMENT_FORMAT,
        validators=[InputRequired("Give the day and time it was received.")],
    )
    deadline_at = DateTimeLocalField(
        "Answer due by (UTC)",
        format=MOMENT_FORMAT,
        validators=[InputRequired("Give the provider's deadline.")],
        description="The case's SLA runs to this moment; past it, the case shows as breached.",
    )
    period_start = DateField(
        "Period from",
        format=DAY_FORMAT,
        validators=[InputRequired("Give the first day of the period in question.")],
    )
    period_end = DateField(
        "Period to (included)",
        format=DAY_FORMAT,
        validators=[InputRequired("Give the last day of the period in question.")],
        description="The last day in question, included, as on the transparency page.",
    )
    clauses = SelectMultipleField(
        "Clauses in question",
        invalid_choice_message="Choose clauses of the policy from the list.",
        description="None chosen: the whole taxonomy. A clause includes its sub-clauses.",
    )
    summary = TextAreaField(
        "What the provider asks", validators=[plain_text, Length(max=SUMMARY_MAX)]
    )

    period: tuple[datetime, datetime]
    """[start, end) in UTC (the days from and to, both included), once `validate()` passed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.clauses.choices = clause_choices()

    def validate_received_at(self, field) -> None:
        _within_range(field.data and field.data.date())

    def validate_deadline_at(self, field) -> None:
        _within_range(field.data and field.data.date())
        if self.received_at.data and field.data and field.data <= self.received_at.data:
            raise ValidationError("The deadline must be after the inquiry was received.")

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.period_start.errors or self.period_end.errors:
            return False
        try:
            self.period = period_of_days(first=self.period_start.data, last=self.period_end.data)
        except InputInvalid as exc:
            self[PERIOD_FIELDS[exc.field]].errors.append(str(exc))
            return False
        return valid


def as_utc(moment: datetime) -> datetime:
    """A moment the form read as UTC (the browser's control has no zone)."""
    return moment.replace(tzinfo=UTC)


def _within_range(day: date | None) -> None:
    if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValidationError(OUT_OF_RANGE)


class DossierForm(FlaskForm):
    format = SelectField(
        "Format",
        choices=[SelectChoice(name, FORMAT_LABELS[name]) for name in FORMATS],
        invalid_choice_message="Choose PDF, HTML or JSON.",
    )


class AnswerForm(FlaskForm):
    note = TextAreaField(
        "How it was answered",
        validators=[
            plain_text,
            DataRequired("Say how and when the dossier went to the provider."),
            Length(max=MAX_NOTE),
        ],
    )
