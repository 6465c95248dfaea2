"""Holds from the case page: place a legal hold or record a law-enforcement preservation request
(`POST /cases/<ref>/holds`), extend or renew one (`POST /cases/<ref>/holds/<id>/extend`).

Leads and admins, and child-safety specialists on restricted cases; a case the viewer may not see
is a 404. Each POST validates its form, calls one service, commits once and redirects to the
case page's holds; a refused form is shown again on a page of its own, nothing written.
"""

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlmodel import Session

from cases.accounts.access import get_case
from cases.child_safety.cli import holds_cli
from cases.child_safety.forms import PLACE_FORMS, HoldForm, extend_form
from cases.child_safety.holds import (
    KIND_LABELS,
    HoldError,
    case_holds,
    check_hold_settings,
    extend_hold_by_days,
    place_hold_for_days,
    require_hold_permission,
)
from cases.core.db import get_session
from cases.core.security import require_permission
from cases.core.sqltypes import utcnow
from cases.core.web import private_page
from cases.enums import Permission
from cases.lifecycle.actors import Actor
from cases.models import Case, Hold

bp = Blueprint("holds", __name__, url_prefix="/cases")


@bp.before_request
@login_required
def require_staff():
    require_permission(current_user.role, Permission.view_cases)


def blank_hold_form(target: str, kind: str) -> HoldForm:
    """A blank form for the holds partial; `target` is the kind placed, or "extend-<hold id>"."""
    form = PLACE_FORMS[kind] if target in PLACE_FORMS else extend_form(kind)
    return form(formdata=None, prefix=target)


def _case(session: Session, reference: str) -> Case:
    case = get_case(session, reference=reference, viewer=current_user)
    require_hold_permission(Actor.staff(current_user), case)
    return case


def _again(session: Session, case: Case, form: HoldForm, target: str, status: int):
    page = render_template(
        "child_safety/holds.html",
        case=case,
        holds=case_holds(session, case=case, viewer=current_user, now=utcnow()),
        bound_form=form,
        bound_target=target,
    )
    return private_page(make_response(page, status))


def _refused(session: Session, case: Case, form: HoldForm, target: str, exc: HoldError):
    session.rollback()
    message = str(exc)
    form.form_errors.append(f"{message[:1].upper()}{message[1:]}; nothing was changed.")
    return _again(session, case, form, target, 409)


def _back(case: Case):
    return redirect(url_for("cases.detail", reference=case.reference, _anchor="holds"), code=303)


@bp.post("/<reference>/holds")
def place(reference: str):
    session = get_session()
    case = _case(session, reference)
    kind = request.form.get("kind", "")
    if kind not in PLACE_FORMS:
        abort(400, description="Place a legal hold or record a law-enforcement request.")
    form = PLACE_FORMS[kind](prefix=kind)
    if not form.validate_on_submit():
        return _again(session, case, form, kind, 422)
    try:
        hold = place_hold_for_days(
            session, case=case, kind=kind, actor=Actor.staff(current_user), **form.fields()
        )
    except HoldError as exc:
        return _refused(session, case, form, kind, exc)
    session.commit()
    flash(f"{KIND_LABELS[kind].capitalize()} in place until {hold.until:%d %B %Y}.", "success")
    return _back(case)


@bp.post("/<reference>/holds/<int:hold_id>/extend")
def extend(reference: str, hold_id: int):
    session = get_session()
    case = _case(session, reference)
    hold = session.get(Hold, hold_id)
    if hold is None or hold.case_id != case.id:
        abort(404)
    target = f"extend-{hold.id}"
    form = extend_form(hold.kind)(prefix=target)
    if not form.validate_on_submit():
        return _again(session, case, form, target, 422)
    try:
        hold = extend_hold_by_days(
            session, hold=hold, case=case, actor=Actor.staff(current_user), **form.fields()
        )
    except HoldError as exc:
        return _refused(session, case, form, target, exc)
    session.commit()
    flash(f"The {KIND_LABELS[hold.kind]} now runs until {hold.until:%d %B %Y}.", "success")
    return _back(case)


def init_app(app: Flask) -> None:
    # A deployment configured to preserve for less than the law requires does not start.
    check_hold_settings(app.config)
    # The case page belongs to another blueprint; its holds partial draws blank forms from here.
    app.jinja_env.globals.update(blank_hold_form=blank_hold_form)
    app.register_blueprint(bp)
    app.cli.add_command(holds_cli)
