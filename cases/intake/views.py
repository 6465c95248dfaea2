"""The public report form (`/report`) and its confirmation.

No account is needed. The form is rate-limited per client and carries a honeypot field; a bot
that fills it is shown the usual confirmation and nothing is written."""

from flask import (
    Blueprint,
    Config,
    Flask,
    current_app,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask import session as browser_session

from cases.core.db import get_session
from cases.core.extensions import limiter, public_limit
from cases.core.mail import mail_enabled
from cases.core.web import body_limit, private_page
from cases.enums import AppellantKind
from cases.evidence.uploads import ACCEPTED_TYPES, human_size
from cases.intake.forms import PublicReportForm
from cases.intake.public_reports import submit_public_report
from cases.intake.service import IntakeError
from cases.models import Case, Report
from cases.portal.links import (
    LinkHolder,
    LinkInvalid,
    link_for_token,
    link_lifetime,
    read_status_token,
    status_token,
)

bp = Blueprint("intake", __name__)


RECEIPT = "report_receipt"  # the browser session key holding the last report's status token


FORM_ALLOWANCE = 1 << 20  # the form's text fields and multipart framing, beside the files


ACCEPT = "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,.txt"


def report_body_limit(config: Config) -> int:
    return (
        int(config["REPORT_ATTACHMENT_MAX_BYTES"]) * int(config["REPORT_ATTACHMENT_MAX_FILES"])
        + FORM_ALLOWANCE
    )


def _render_form(form: PublicReportForm, status: int):
    config = current_app.config
    return render_template(
        "intake/report.html",
        form=form,
        accept=ACCEPT,
        accepted_types=ACCEPTED_TYPES,
        max_files=config["REPORT_ATTACHMENT_MAX_FILES"],
        max_size=human_size(int(config["REPORT_ATTACHMENT_MAX_BYTES"])),
    ), status


@bp.route("/report", methods=["GET", "POST"])
@body_limit(report_body_limit)
@limiter.limit(public_limit, methods=["POST"])
def report():
    form = PublicReportForm()
    if form.is_submitted() and form.homepage.data:
        browser_session.pop(RECEIPT, None)
        return redirect(url_for(".received"))
    if not form.validate_on_submit():
        return _render_form(form, 400 if form.errors else 200)
    session = get_session()
    try:
        outcome = submit_public_report(
            session,
            report=form.public_report(),
            attachments=form.inspected,
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
    try:
        report = session.get(Report, read_status_token(token).id) if token else None
    except LinkInvalid:
        report = None
    page = render_template(
        "intake/received.html",
        report=report,
        reference=session.get(Case, report.case_id).reference if report else None,
        link=link_for_token(token) if report else None,
        link_lifetime=link_lifetime(),
        emailed=mail_enabled(current_app.config),
    )
    return private_page(make_response(page))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
