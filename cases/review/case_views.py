"""The case page: everything known about a case, and the actions the engine allows on it.

Staff only. A case the viewer may not see is a 404, exactly like a case that does not exist
(`cases.access.get_case` filters restricted cases in the query). Each POST validates its form,
calls one service, commits once and redirects; a form with errors re-renders the page with the
errors next to the fields and nothing written.
"""

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlmodel import Session, select

from cases.accounts.access import get_case
from cases.core.db import get_session
from cases.core.security import require_permission
from cases.core.sqltypes import utcnow
from cases.decisions.service import DecisionInvalid, fire_transition, preview_notice
from cases.enums import Permission, ReportSource
from cases.lifecycle.actors import Actor
from cases.lifecycle.deployed import definitions
from cases.lifecycle.transitions import (
    AwaitingApproval,
    allowed_transitions,
    case_workflow,
    latest_decision,
)
from cases.models import Case, PendingApproval, Report
from cases.review.case_page import case_page
from cases.review.forms import NoteForm, transition_fields, transition_form
from cases.review.notes import add_note
from workflows import DecisionKind, Transition, TransitionRefused

bp = Blueprint("cases", __name__, url_prefix="/cases")

PREVIEW_LINK = "(the affected user's private link)"
# Nothing is sent to the affected user about a dismissal, so there is no notice to preview.
PREVIEWLESS = (None, DecisionKind.dismissal)


@bp.before_request
@login_required
def require_staff():
    require_permission(current_user.role, Permission.view_cases)


def _case(session: Session, reference: str) -> Case:
    return get_case(session, reference=reference, viewer=current_user)


def _back(case: Case, anchor: str | None = None):
    return redirect(url_for("cases.detail", reference=case.reference, _anchor=anchor), code=303)


def _form_defaults(session: Session, case: Case) -> dict:
    """What the transition forms start with: the clause and scope of the decision under appeal
    (else the case's clause), and whether a classifier detected it."""
    decision = latest_decision(session, case.id)
    detected = session.exec(
        select(Report.id).where(Report.case_id == case.id, Report.source == ReportSource.classifier)
    ).first()
    defaults = {
        "policy_clause": decision.policy_clause if decision else case.policy_clause,
        "territorial_scope": decision.territorial_scope if decision else None,
        "automated_detection": "no" if detected is None else "yes",
    }
    return {k: v for k, v in defaults.items() if v is not None}


def render_case(
    session: Session,
    case: Case,
    *,
    bound: FlaskForm | None = None,
    bound_transition: str | None = None,
    note_form: NoteForm | None = None,
    preview: str | None = None,
    status: int = 200,
):
    """The page, with `bound` (a submitted transition form) in place of its blank form."""
    actor = Actor.staff(current_user)
    policy = definitions().policy
    defaults = _form_defaults(session, case)
    # A second-approval request pre-fills the approver's form with what the requester gave.
    pending = {
        p.transition: p.fields
        for p in session.exec(select(PendingApproval).where(PendingApproval.case_id == case.id))
    }
    offered: list[tuple[Transition, FlaskForm]] = []
    for transition in allowed_transitions(session, case=case, actor=actor):
        if transition.name == bound_transition and bound is not None:
            form = bound
        else:
            form = transition_form(
                transition, policy=policy, defaults={**defaults, **pending.get(transition.name, {})}
            )
        offered.append((transition, form))
    page = case_page(session, case=case, viewer=current_user, now=utcnow())
    return (
        render_template(
            "cases/detail.html",
            page=page,
            offered=offered,
            open_transition=bound_transition,
            preview=preview,
            note_form=note_form or NoteForm(formdata=None, prefix="note"),
        ),
        status,
    )


@bp.get("/<reference>")
def detail(reference: str):
    session = get_session()
    return render_case(session, _case(session, reference))


@bp.post("/<reference>/notes")
def note(reference: str):
    session = get_session()
    case = _case(session, reference)
    form = NoteForm(prefix="note")
    if not form.validate_on_submit():
        return render_case(session, case, note_form=form, status=422)
    add_note(session, case=case, actor=Actor.staff(current_user), text=form.text.data)
    session.commit()
    flash("Note added.", "success")
    return _back(case, "notes")


def _preview(session: Session, case: Case, transition: Transition, fields: dict) -> str:
    """The notification email the decision would send, from the form's unsaved values."""
    notice = preview_notice(session, case=case, transition=transition.name, fields=fields)
    return render_template(
        "notices/mail/affected_user_decision.txt",
        reference=case.reference,
        notice=notice,
        link=PREVIEW_LINK,
        link_expires=notice.appeal_until,
    )


@bp.post("/<reference>/transitions")
def transition(reference: str):
    session = get_session()
    case = _case(session, reference)
    actor = Actor.staff(current_user)
    name = request.form.get("transition", "")
    offered = {t.name: t for t in allowed_transitions(session, case=case, actor=actor)}
    chosen = offered.get(name)
    if chosen is None:
        known = {t.name: t for t in case_workflow(session, case).transitions}
        label = known[name].label if name in known else name
        flash(f"{label!r} is not available to you on this case now.", "error")
        return _back(case)
    form = transition_form(chosen, policy=definitions().policy, defaults={}, formdata=request.form)
    again = {"bound": form, "bound_transition": chosen.name}
    if not form.validate_on_submit():
        return render_case(session, case, **again, status=422)
    fields = transition_fields(form, chosen)
    previewing = request.form.get("action") == "preview" and chosen.decides not in PREVIEWLESS
    try:
        if previewing:
            preview = _preview(session, case, chosen, fields)
        else:
            fire_transition(session, case=case, transition=chosen.name, actor=actor, fields=fields)
    except DecisionInvalid as exc:
        session.rollback()
        if exc.field not in form:
            flash(str(exc), "error")
            return _back(case)
        form[exc.field].errors.append(str(exc))
        return render_case(session, case, **again, status=422)
    except AwaitingApproval as exc:
        session.commit()  # the request for approval is itself recorded
        flash(str(exc), "warning")
        return _back(case)
    except TransitionRefused as exc:
        session.rollback()
        flash(str(exc), "error")
        return _back(case)
    if previewing:
        return render_case(session, case, **again, preview=preview)
    session.commit()
    flash(f"{chosen.label}: done.", "success")
    return _back(case)


def init_app(app) -> None:
    app.register_blueprint(bp)
