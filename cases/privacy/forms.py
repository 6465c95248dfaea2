"""The access requests page's forms: open a request for a subject, and fulfil one."""

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, StopValidation

from cases.enums import SubjectKind
from cases.privacy.service import CONTROL_CHARACTERS, SUBJECT_ID_MAX, SUBJECT_KIND_WORDS

FORMAT_LABELS = {"html": "Readable page (HTML)", "json": "JSON", "zip": "Both, in a zip"}


def _sentence(words: str) -> str:
    return words[:1].upper() + words[1:]


def plain_text(_form, field) -> None:
    """Text without control characters (Flask-WTF also offers uploaded files as form data)."""
    if field.data is None:
        return  # missing: DataRequired says so
    if not isinstance(field.data, str):
        raise StopValidation("Give the id as text.")
    if CONTROL_CHARACTERS.search(field.data):
        raise StopValidation("An id has no control characters.")


class OpenRequestForm(FlaskForm):
    kind = SelectField(
        "Kind",
        choices=[
            SelectChoice(kind.value, _sentence(SUBJECT_KIND_WORDS[kind])) for kind in SubjectKind
        ],
        default=SubjectKind.account.value,
        invalid_choice_message="Choose one of the listed kinds.",
    )
    external_id = StringField(
        "Their id on your platform",
        validators=[
            plain_text,
            DataRequired("Give the id the request is about."),
            Length(max=SUBJECT_ID_MAX),
        ],
        description="As the operator's platform knows them, e.g. acct-4471.",
    )


class FulfilForm(FlaskForm):
    format = SelectField(
        "Download as",
        choices=[SelectChoice(name, label) for name, label in FORMAT_LABELS.items()],
        default="html",
        invalid_choice_message="Choose HTML, JSON or zip.",
    )
