"""The CyberTipline draft page's forms: prepare a draft, edit it (incident type, time,
description, which files and how each is classified), and submit it."""

from datetime import datetime

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from cases.child_safety.ncmec.builder import (
    FILE_ANNOTATIONS,
    FILE_RELEVANCE,
    INCIDENT_TYPES,
    INDUSTRY_CLASSIFICATIONS,
    REPORTED,
    format_time,
)
from cases.child_safety.ncmec.service import (
    MAX_ADDITIONAL_INFO,
    MAX_DESCRIPTION,
    DraftChanges,
    DraftFile,
)
from cases.core.forms import plain_text
from cases.core.sqltypes import utcnow
from cases.review.notes import MAX_NOTE

# More evidence files than any case holds; a form claiming more is refused, not processed.
MAX_FILES = 500


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class IncidentTimeField(StringField):
    """A time in ISO 8601 with its offset (2026-03-01T14:30:00-05:00); its data is an aware
    datetime."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return format_time(self.data) if self.data else ""

    def process_formdata(self, valuelist):
        text = valuelist[0].strip() if valuelist else ""
        self.data = None
        if not text:
            return
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                "Give the time as ISO 8601 with its offset, e.g. 2026-03-01T14:30:00-05:00."
            ) from None
        if moment.tzinfo is None:
            raise ValueError("Add the time zone offset, e.g. +00:00 or -05:00.")
        self.data = moment


def in_the_past(_form, field) -> None:
    if field.data is not None and field.data > utcnow():
        raise ValidationError("The incident time must be in the past.")


class PrepareForm(FlaskForm):
    note = TextAreaField(
        "Why this case is reported",
        validators=[
            plain_text,
            DataRequired("Say why the case is reported; the note goes on the trail."),
            Length(max=MAX_NOTE, message=f"Keep the note to at most {MAX_NOTE} characters."),
        ],
    )


class FileForm(Form):
    """One evidence file's row (a sub-form: the page's CSRF token covers it)."""

    sha256 = HiddenField(validators=[Regexp(r"\A[0-9a-f]{64}\Z", message="Unknown file.")])
    include = BooleanField("Include")
    relevance = SelectField(
        "Relevance", choices=[SelectChoice(r, r) for r in FILE_RELEVANCE], default=REPORTED
    )
    classification = SelectField(
        "Industry classification",
        choices=[SelectChoice("", "None")]
        + [SelectChoice(code, label) for code, label in INDUSTRY_CLASSIFICATIONS.items()],
        default="",
    )
    annotations = CheckboxesField(
        "Annotations",
        choices=[SelectChoice(name, label) for name, label in FILE_ANNOTATIONS.items()],
    )

    def draft_file(self) -> DraftFile:
        return DraftFile(
            sha256=self.sha256.data,
            include=self.include.data,
            relevance=self.relevance.data,
            classification=self.classification.data or None,
            annotations=tuple(self.annotations.data or ()),
        )


class DraftForm(FlaskForm):
    incident_type = SelectField(
        "Incident type",
        choices=[SelectChoice("", "Choose NCMEC's incident type")]
        + [SelectChoice(t, t) for t in INCIDENT_TYPES],
        validators=[DataRequired("Choose the incident type.")],
    )
    incident_at = IncidentTimeField(
        "Incident time", validators=[DataRequired("Give the incident time."), in_the_past]
    )
    description = TextAreaField(
        "Description of the incident",
        validators=[
            plain_text,
            DataRequired("Describe the incident."),
            Length(max=MAX_DESCRIPTION, message=f"At most {MAX_DESCRIPTION} characters."),
        ],
    )
    additional_info = TextAreaField(
        "Additional information",
        validators=[
            Optional(),
            plain_text,
            Length(max=MAX_ADDITIONAL_INFO, message=f"At most {MAX_ADDITIONAL_INFO} characters."),
        ],
    )
    files = FieldList(FormField(FileForm), max_entries=MAX_FILES)

    def validate_files(self, field) -> None:
        hashes = [entry.sha256.data for entry in field]
        if len(hashes) != len(set(hashes)):
            raise ValidationError("Each file may appear once.")

    def changes(self) -> DraftChanges:
        return DraftChanges(
            incident_type=self.incident_type.data,
            incident_at=self.incident_at.data,
            description=self.description.data.strip(),
            additional_info=(self.additional_info.data or "").strip() or None,
            files=tuple(entry.form.draft_file() for entry in self.files),
        )


class SubmitForm(FlaskForm):
    confirm = BooleanField(
        "I reviewed this report; once NCMEC finishes it, it cannot be withdrawn.",
        validators=[DataRequired("Confirm that you reviewed the report.")],
    )
