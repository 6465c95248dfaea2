"""The case page's hold forms: place a legal hold, record a law-enforcement preservation request,
extend a hold, renew a request. Each form's `fields()` is what the holds service takes."""

from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from cases.child_safety.holds import MAX_HOLD_DAYS, REASON_MAX, REQUEST_REFERENCE_MAX
from cases.core.forms import plain_text
from cases.enums import HoldKind


class HoldForm(FlaskForm):
    reason = TextAreaField(
        "Why",
        validators=[
            plain_text,
            DataRequired("Say why the case is held."),
            Length(max=REASON_MAX, message=f"Keep the reason to at most {REASON_MAX} characters."),
        ],
    )

    def fields(self) -> dict:
        """Every field but the CSRF token, by name."""
        return {name: value for name, value in self.data.items() if name != "csrf_token"}


def _days(label: str) -> IntegerField:
    return IntegerField(
        label,
        validators=[
            InputRequired("Give a number of days."),
            NumberRange(
                min=1,
                max=MAX_HOLD_DAYS,
                message=f"Give a number of days from 1 to {MAX_HOLD_DAYS}.",
            ),
        ],
    )


def _request_reference(label: str) -> StringField:
    return StringField(
        label,
        validators=[
            plain_text,
            DataRequired("Give the reference the agency put on its request."),
            Length(
                max=REQUEST_REFERENCE_MAX,
                message=f"Keep the reference to at most {REQUEST_REFERENCE_MAX} characters.",
            ),
        ],
    )


class LegalHoldForm(HoldForm):
    days = _days("Days")


class LawEnforcementForm(HoldForm):
    request_reference = _request_reference("The request's reference")


class ExtendForm(HoldForm):
    days = _days("Days to add")


class RenewForm(HoldForm):
    request_reference = _request_reference("The renewed request's reference")


# By the `kind` a placing form posts: preservation holds are placed by a job, never by hand.
PLACE_FORMS: dict[str, type[HoldForm]] = {
    HoldKind.legal: LegalHoldForm,
    HoldKind.law_enforcement: LawEnforcementForm,
}


def extend_form(kind: str) -> type[HoldForm]:
    """The form that extends a hold of `kind` (a law-enforcement request is renewed)."""
    return RenewForm if kind == HoldKind.law_enforcement else ExtendForm
