"""The CyberTipline report page of a child-safety case (`/cases/<ref>/ncmec`), linked from the
case page: the specialist prepares the draft, edits it, submits it, and later reads the receipt.

Child-safety specialists and admins work it; auditors read it; to anyone else the case does not
exist (404, as on the case page). Each POST validates its form, calls one service, commits once
and redirects; a form with errors, or a change the service refuses, shows the page again with the
reason and nothing written.
"""

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user, login_required
from sqlmodel import Session

from cases.accounts.access import get_case
from cases.child_safety.ncmec.builder import ReportInvalid
from cases.child_safety.ncmec.cli import ncmec_cli
from cases.child_safety.ncmec.forms import DraftForm, PrepareForm, SubmitForm
from cases.child_safety.ncmec.service import (
    NcmecRefused,
    ReportPanel,
    prepare_draft,
    report_panel,
    submit_draft,
    update_draft,
)
from cases.core.db import get_session
from cases.core.security import require_permission
from cases.core.sqltypes import utcnow
from cases.core.web import private_page
from cases.enums import NcmecStatus, Permission
from cases.lifecycle.actors import Actor
from cases.models import Case
from workflows import TransitionRefused

bp = Blueprint("ncmec", __name__, url_prefix="/cases")


@bp.before_request
@login_required
def require_staff():
    require_permission(current_user.role, Permission.view_cases)


def _panel(session: Session, reference: str) -> ReportPanel:
    case = get_case(session, reference=reference, viewer=current_user)
    panel = report_panel(session, case=case, viewer=current_user, now=utcnow())
    if panel is None:
        abort(404, description=f"{reference} is not a case reported to NCMEC.")
    return panel


def _worked(session: Session, reference: str) -> ReportPanel:
    panel = _panel(session, reference)  # first: a case the viewer may not see stays a 404
    require_permission(current_user.role, Permission.work_restricted)
    return panel


def _draft_form(panel: ReportPanel) -> DraftForm:
    report = panel.report
    return DraftForm(
        formdata=None,
        data={
            "incident_type": report.incident_type or "",
            "incident_at": report.incident_at,
            "description": report.description,
            "additional_info": report.additional_info,
            "files": [
                {**entry, "classification": entry["classification"] or ""} for entry in report.files
            ],
        },
    )


def _page(
    panel: ReportPanel,
    *,
    prepare: PrepareForm | None = None,
    draft: DraftForm | None = None,
    submit: SubmitForm | None = None,
    problems: list[str] = (),
    status: int = 200,
):
    config = current_app.config
    page = render_template(
        "child_safety/ncmec.html",
        case=panel.case,
        ncmec=panel,
        prepare_form=prepare or PrepareForm(formdata=None),
        draft_form=draft or (_draft_form(panel) if panel.may_edit else None),
        submit_form=submit or SubmitForm(formdata=None),
        problems=problems,
        environment=config["NCMEC_ENVIRONMENT"],
        endpoint=config["NCMEC_URL"],
        reporter_missing=not config.get("NCMEC_REPORTER_EMAIL"),
    )
    return private_page(make_response(page, status))


def _refused(session: Session, reference: str, exc: Exception, **forms):
    """The page again with why the change was refused; nothing written."""
    session.rollback()
    problems = exc.problems if isinstance(exc, ReportInvalid) else [str(exc)]
    return _page(_panel(session, reference), problems=problems, status=409, **forms)


def _back(case: Case):
    return redirect(url_for("ncmec.report", reference=case.reference), code=303)


@bp.get("/<reference>/ncmec")
def report(reference: str):
    return _page(_panel(get_session(), reference))


@bp.post("/<reference>/ncmec/prepare")
def prepare(reference: str):
    session = get_session()
    panel = _worked(session, reference)
    form = PrepareForm()
    if not form.validate_on_submit():
        return _page(panel, prepare=form, status=422)
    try:
        prepare_draft(
            session, case=panel.case, actor=Actor.staff(current_user), note=form.note.data.strip()
        )
    except (NcmecRefused, TransitionRefused) as exc:
        return _refused(session, reference, exc, prepare=form)
    session.commit()
    flash("Draft prepared from the case: review every field before submitting.", "success")
    return _back(panel.case)


@bp.post("/<reference>/ncmec/draft")
def edit(reference: str):
    session = get_session()
    panel = _worked(session, reference)
    form = DraftForm()
    if not form.validate_on_submit():
        return _page(panel, draft=form, status=422)
    try:
        update_draft(
            session, case=panel.case, actor=Actor.staff(current_user), changes=form.changes()
        )
    except NcmecRefused as exc:
        return _refused(session, reference, exc, draft=form)
    session.commit()
    flash("Draft saved.", "success")
    return _back(panel.case)


@bp.post("/<reference>/ncmec/submit")
def submit(reference: str):
    session = get_session()
    panel = _worked(session, reference)
    form = SubmitForm()
    if not form.validate_on_submit():
        return _page(panel, submit=form, status=422)
    try:
        submit_draft(
            session, case=panel.case, actor=Actor.staff(current_user), config=current_app.config
        )
    except (NcmecRefused, ReportInvalid, TransitionRefused) as exc:
        return _refused(session, reference, exc, submit=form)
    session.commit()
    flash("Submitted: the report is on its way to NCMEC; this page shows each step.", "success")
    return _back(panel.case)


@bp.get("/<reference>/ncmec/receipt.xml")
def receipt(reference: str):
    panel = _panel(get_session(), reference)
    report = panel.report
    if report is None or report.status != NcmecStatus.finished or not report.receipt:
        abort(404, description="No receipt: the report is not finished.")
    response = make_response(report.receipt)
    response.headers["Content-Type"] = "application/xml; charset=utf-8"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="cybertipline-{report.ncmec_report_id}-receipt.xml"'
    )
    return private_page(response)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(ncmec_cli)
