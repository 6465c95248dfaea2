"""The public report form (`/report`): the notice's DSA Art. 16 elements and its attachments
(checked by `cases.core.forms.AttachmentsField`, as on the private pages' forms)."""

from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from cases.core.forms import AttachmentsField, plain_text
from cases.intake.public_reports import PublicReport
from cases.intake.service import contact_exempt
from cases.lifecycle.deployed import definitions


def web_address(_form, field) -> None:
    parts = urlsplit(field.data or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError("Give a full web address starting with https:// or http://.")


def category_choices() -> list[SelectChoice]:
    """The policy's clauses in plain words, grouped under the policy's headings."""
    choices = [SelectChoice("", "Choose what it is about…")]
    for group in definitions().policy.groups:
        choices.extend(
            SelectChoice(clause.id, clause.description, optgroup=group.label)
            for clause in group.clauses
        )
    return choices


class PublicReportForm(FlaskForm):
    category = SelectField(
        "What is it about?",
        validators=[DataRequired("Choose what the report is about.")],
        invalid_choice_message="Choose one of the listed categories.",
    )
    url = StringField(
        "Web address (URL)", validators=[Optional(), Length(max=2000), plain_text, web_address]
    )
    content_id = StringField("Content id", validators=[Optional(), Length(max=200), plain_text])
    account_id = StringField("Account id", validators=[Optional(), Length(max=200), plain_text])
    explanation = TextAreaField(
        "What happened?",
        validators=[
            DataRequired("Explain what you are reporting."),
            Length(max=20_000),
            plain_text,
        ],
    )
    reporter_name = StringField("Your name", validators=[Length(max=200), plain_text])
    reporter_email = EmailField(
        "Your email address",
        validators=[Optional(), Length(max=320), plain_text, Email("Give a valid email address.")],
    )
    # Required, but checked with the rest of the notice by PublicReport.problems.
    good_faith = BooleanField(
        "I believe in good faith that the information and allegations in this report are "
        "accurate and complete.",
        render_kw={"required": True},
    )
    attachments = AttachmentsField("Attachments (optional)")
    # The honeypot: hidden from people (and from screen readers); naive bots fill every field.
    homepage = StringField("Leave this field empty")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.category.choices = category_choices()

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for problem in self.public_report().problems():
            field = getattr(self, problem.field)
            if not field.errors:
                field.errors.append(str(problem))
            valid = False
        if self.category.data and not self.category.errors and not self._contact_exempt():
            for field, message in (
                (self.reporter_name, "Give your name."),
                (self.reporter_email, "Give your email address."),
            ):
                if not field.data and not field.errors:
                    field.errors.append(message)
                    valid = False
        return valid

    def _contact_exempt(self) -> bool:
        return contact_exempt(definitions().policy.clause(self.category.data))

    def public_report(self) -> PublicReport:
        def text(field) -> str | None:
            return (field.data or "").strip() or None

        return PublicReport(
            category=self.category.data,
            explanation=(self.explanation.data or "").strip(),
            url=text(self.url),
            content_id=text(self.content_id),
            account_id=text(self.account_id),
            reporter_name=text(self.reporter_name),
            reporter_email=text(self.reporter_email),
            good_faith=self.good_faith.data,
        )
