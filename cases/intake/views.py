"""The public report form (`/report`) and its confirmation.

No account is needed. The form is rate-limited per client and carries a honeypot field; a bot
that fills it is shown the usual confirmation and nothing is written."""

from flask import (
    Blueprint,
    Flask,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as browser_session

from cases.core.db import get_session
from cases.core.extensions import limiter, public_limit
from cases.core.forms import attachment_hints, attachments_body_limit
from cases.core.mail import mail_enabled
from cases.core.web import body_limit, private_page
from cases.enums import AppellantKind
from cases.intake.forms import PublicReportForm
from cases.intake.public_reports import submit_public_report
from cases.intake.service import IntakeError
from cases.models import Case, Report
from cases.portal.links import (
    LinkInvalid,
    issue_link,
    link_lifetime,
    link_url,
    read_link,
    status_token,
)

bp = Blueprint("intake", __name__)


RECEIPT = "report_receipt"  # the browser session key holding the last report's status token


def _render_form(form: PublicReportForm, status: int):
    return render_template(
        "intake/report.html", form=form, **attachment_hints(current_app.config)
    ), status


@bp.route("/report", methods=["GET", "POST"])
@body_limit(attachments_body_limit)
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
            attachments=form.attachments.inspected,
            client=request.remote_addr,
        )
    except IntakeError as exc:
        getattr(form, exc.field, form.category).errors.append(str(exc))
        return _render_form(form, 400)
    link = issue_link(
        session, case=outcome.case, holder=AppellantKind.reporter, report=outcome.report
    )
    session.commit()
    browser_session[RECEIPT] = status_token(link)
    return redirect(url_for(".received"))


@bp.get("/report/received")
def received():
    """The reference and private link of the report this browser just sent (none after a
    honeypot hit: the bot sees the same thanks and learns nothing)."""
    session = get_session()
    token = browser_session.get(RECEIPT)
    try:
        link = read_link(session, token) if isinstance(token, str) else None
    except LinkInvalid:
        link = None
    report = session.get(Report, link.report_id) if link else None
    page = render_template(
        "intake/received.html",
        report=report,
        reference=session.get(Case, link.case_id).reference if link else None,
        link=link_url(link) if link else None,
        link_lifetime=link_lifetime(),
        emailed=mail_enabled(current_app.config),
    )
    return private_page(make_response(page))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
