"""The evidence form: why a person opens a file, and how they want it delivered."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, DataRequired, Length

from cases.core.forms import plain_text
from cases.evidence.viewing import MAX_REASON

# `page`: an image shown blurred on a page of its own (any other file downloads); `bytes`: the
# file itself, which the case page's script shows in place.
DELIVERIES = ("page", "bytes")


def _strip(value: str | None) -> str | None:
    return value.strip() if value else value


class ViewForm(FlaskForm):
    reason = StringField(
        "Why are you opening it?",
        validators=[
            DataRequired(message="Say why you are opening this file."),
            Length(min=3, max=MAX_REASON),
            plain_text,
        ],
        filters=[_strip],
    )
    deliver = HiddenField(default="page", validators=[AnyOf(DELIVERIES)])
