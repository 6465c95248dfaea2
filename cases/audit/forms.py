"""The auditor's forms: finding cases and custody records (GET forms, which change nothing and so
carry no CSRF token), and verifying or exporting (POSTs, which record that they were done)."""

from flask_wtf import FlaskForm
from wtforms import Form, IntegerField, SearchField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from cases.accounts.access import REFERENCE_MAX
from cases.core.forms import plain_text
from cases.lifecycle.deployed import definitions
from cases.review.search import MAX_QUERY

ANY = ""
# A page cursor is a row id: anything past the largest 64-bit integer names no row, and SQLite
# cannot even bind it.
CURSOR = NumberRange(min=1, max=2**63 - 1, message="Not a page of this list.")


def _strip(value: str | None) -> str | None:
    return value.strip() if value else value


class CaseSearchForm(Form):
    q = SearchField(
        "Reference, subject id or words from a report",
        validators=[Optional(), Length(max=MAX_QUERY), plain_text],
        filters=[_strip],
    )
    clause = SelectField("Policy clause", default=ANY)
    state = SelectField("State", default=ANY)
    after = IntegerField(validators=[Optional(), CURSOR])

    def __init__(self, formdata):
        super().__init__(formdata)
        loaded = definitions()
        self.clause.choices = [SelectChoice(ANY, "Any clause")] + [
            SelectChoice(c.id, c.label) for c in loaded.policy.clauses
        ]
        states = {
            state.name: state.label
            for workflow in loaded.workflows.values()
            for state in workflow.states.values()
        }
        self.state.choices = [SelectChoice(ANY, "Any state")] + [
            SelectChoice(name, f"{label} ({name})") for name, label in sorted(states.items())
        ]

    def query_args(self) -> dict[str, str]:
        """The chosen search and filters as query arguments (for the pager's links)."""
        return {name: self[name].data for name in ("q", "clause", "state") if self[name].data}


class CustodyFilterForm(Form):
    case = StringField(
        "Case reference",
        validators=[Optional(), Length(max=REFERENCE_MAX), plain_text],
        filters=[_strip],
    )
    after = IntegerField(validators=[Optional(), CURSOR])


class VerifyForm(FlaskForm):
    reference = StringField(
        "Case reference",
        validators=[Optional(), Length(max=REFERENCE_MAX), plain_text],
        filters=[_strip],
        description="Leave empty to verify the whole trail.",
    )


class ExportForm(FlaskForm):
    reference = StringField(
        "Case reference",
        validators=[DataRequired(), Length(max=REFERENCE_MAX), plain_text],
        filters=[_strip],
    )
