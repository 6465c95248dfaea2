"""The public pages: the misuse report form (`/report`) and the private status page (`/my/…`).

No account is needed. The form is rate-limited per client and carries a honeypot field; a bot
that fills it is shown the usual confirmation and nothing is written. Status tokens are secrets
in a path, so they are kept out of request logs and never sent as a referrer to another site.
"""

import logging
import re
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Config,
    Flask,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask import session as browser_session
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from cases.db import get_session
from cases.definitions import definitions
from cases.enums import AppellantKind
from cases.extensions import limiter
from cases.intake import IntakeError
from cases.mail import mail_enabled
from cases.models import Case, Report
from cases.portal import (
    ACCEPTED_TYPES,
    Attachment,
    AttachmentRejected,
    LinkExpired,
    LinkHolder,
    LinkInvalid,
    Notice,
    affected_user_view,
    human_size,
    inspect_attachment,
    link_for_token,
    link_lifetime,
    read_status_token,
    reporter_view,
    status_token,
    submit_notice,
)
from cases.web import body_limit

bp = Blueprint("public", __name__)

RECEIPT = "report_receipt"  # the browser session key holding the last report's status token
FORM_ALLOWANCE = 1 << 20  # the form's text fields and multipart framing, beside the files
ACCEPT = "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,.txt"
CHILD_SAFETY = "child_safety"


def _public_limit() -> str:
    return current_app.config["RATELIMIT_PUBLIC"]


def report_body_limit(config: Config) -> int:
    return (
        int(config["REPORT_ATTACHMENT_MAX_BYTES"]) * int(config["REPORT_ATTACHMENT_MAX_FILES"])
        + FORM_ALLOWANCE
    )


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


class NoticeForm(FlaskForm):
    category = SelectField(
        "What is it about?",
        validators=[DataRequired("Choose what the report is about.")],
        invalid_choice_message="Choose one of the listed categories.",
    )
    url = StringField("Web address (URL)", validators=[Optional(), Length(max=2000), web_address])
    content_id = StringField("Content id", validators=[Optional(), Length(max=200)])
    account_id = StringField("Account id", validators=[Optional(), Length(max=200)])
    explanation = TextAreaField(
        "What happened?",
        validators=[DataRequired("Explain what you are reporting."), Length(max=20_000)],
    )
    reporter_name = StringField("Your name", validators=[Length(max=200)])
    reporter_email = EmailField(
        "Your email address",
        validators=[Optional(), Length(max=320), Email("Give a valid email address.")],
    )
    good_faith = BooleanField(
        "I believe in good faith that the information and allegations in this report are "
        "accurate and complete.",
        validators=[DataRequired("Confirm the good-faith statement to send the report.")],
    )
    attachments = MultipleFileField("Attachments (optional)")
    # The honeypot: hidden from people (and from screen readers); naive bots fill every field.
    homepage = StringField("Leave this field empty")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.category.choices = category_choices()
        self.inspected: list[Attachment] = []

    def validate_attachments(self, field) -> None:
        config = current_app.config
        uploads = [f for f in field.data or () if f and f.filename]
        limit = int(config["REPORT_ATTACHMENT_MAX_FILES"])
        if len(uploads) > limit:
            raise ValidationError(f"Attach at most {limit} files.")
        problems = []
        for upload in uploads:
            try:
                self.inspected.append(
                    inspect_attachment(
                        upload.stream,
                        filename=upload.filename,
                        max_bytes=int(config["REPORT_ATTACHMENT_MAX_BYTES"]),
                    )
                )
            except AttachmentRejected as rejected:
                problems.append(str(rejected))
        if problems:
            raise ValidationError(" ".join(problems))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if not (self.url.data or self.content_id.data or self.account_id.data):
            self.url.errors.append(
                "Say where it happened: a web address, a content id or an account id."
            )
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
        # DSA Art. 16(2)(c): a notice of child sexual abuse needs no name or email.
        return definitions().policy.clause(self.category.data).workflow == CHILD_SAFETY

    def notice(self) -> Notice:
        def text(field) -> str | None:
            return (field.data or "").strip() or None

        return Notice(
            category=self.category.data,
            explanation=self.explanation.data.strip(),
            url=text(self.url),
            content_id=text(self.content_id),
            account_id=text(self.account_id),
            reporter_name=text(self.reporter_name),
            reporter_email=text(self.reporter_email),
            good_faith=self.good_faith.data,
        )


def _private(response):
    """Pages that show a private link or a case: never cached, never indexed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _render_form(form: NoticeForm, status: int):
    config = current_app.config
    return render_template(
        "public/report.html",
        form=form,
        accept=ACCEPT,
        accepted_types=ACCEPTED_TYPES,
        max_files=config["REPORT_ATTACHMENT_MAX_FILES"],
        max_size=human_size(int(config["REPORT_ATTACHMENT_MAX_BYTES"])),
    ), status


@bp.route("/report", methods=["GET", "POST"])
@body_limit(report_body_limit)
@limiter.limit(_public_limit, methods=["POST"])
def report():
    form = NoticeForm()
    if form.is_submitted() and form.homepage.data:
        browser_session.pop(RECEIPT, None)
        return redirect(url_for(".received"))
    if not form.validate_on_submit():
        return _render_form(form, 400 if form.errors else 200)
    session = get_session()
    try:
        outcome = submit_notice(
            session,
            notice=form.notice(),
            attachments=form.inspected,
            max_attachment_bytes=int(current_app.config["REPORT_ATTACHMENT_MAX_BYTES"]),
        )
    except IntakeError as exc:
        getattr(form, exc.field, form.category).errors.append(str(exc))
        return _render_form(form, 400)
    session.commit()
    browser_session[RECEIPT] = status_token(LinkHolder(AppellantKind.reporter, outcome.report_id))
    return redirect(url_for(".received"))


@bp.get("/report/received")
def received():
    """The reference and private link of the report this browser just sent (none after a
    honeypot hit: the bot sees the same thanks and learns nothing)."""
    session = get_session()
    token = browser_session.get(RECEIPT)
    report = session.get(Report, _holder(token).id) if token else None
    page = render_template(
        "public/received.html",
        report=report,
        reference=session.get(Case, report.case_id).reference if report else None,
        link=link_for_token(token) if report else None,
        link_lifetime=link_lifetime(),
        emailed=mail_enabled(current_app.config),
    )
    return _private(make_response(page))


def _holder(token: str) -> LinkHolder:
    try:
        return read_status_token(token)
    except LinkExpired:
        abort(
            410,
            description="This link has expired. Links to a report or a decision work "
            f"for {link_lifetime().days} days; contact us quoting your reference.",
        )
    except LinkInvalid:
        abort(404, description="This link is not valid. Check that you copied all of it.")


@bp.get("/my/<token>")
@limiter.limit(_public_limit)
def status(token: str):
    holder = _holder(token)
    session = get_session()
    if holder.role == AppellantKind.reporter:
        report = session.get(Report, holder.id)
        view = reporter_view(session, report=report) if report else None
    else:
        case = session.get(Case, holder.id)
        view = affected_user_view(session, case=case) if case else None
    if view is None:
        abort(404, description="There is nothing to show for this link.")
    page = render_template("public/status.html", role=holder.role.value, view=view)
    return _private(make_response(page))


# Request logs must not keep the tokens: anyone holding one sees the case's status.
_TOKEN_IN_PATH = re.compile(r"/my/[^\s\"?]+")


class RedactStatusTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/my/" in message:
            record.msg, record.args = _TOKEN_IN_PATH.sub("/my/[redacted]", message), ()
        return True


LOGGERS_WITH_PATHS = ("werkzeug", "gunicorn.access", "cases.errors")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    for name in LOGGERS_WITH_PATHS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactStatusTokens) for f in logger.filters):
            logger.addFilter(RedactStatusTokens())
