"""Queues, claims, bulk actions and search: the reviewer's workspace.

Staff only. A queue or case the viewer may not see is a 404, like one that does not exist. Every
POST carries a CSRF token, calls one service, commits once and redirects back (post/redirect/get),
except the bulk action, whose per-case results are the response itself.
"""

from urllib.parse import quote, urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlmodel import Session, col, select
from wtforms import Form, HiddenField, SearchField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from cases.accounts.access import get_case
from cases.core.db import get_session
from cases.core.security import ROLE_PERMISSIONS, require_permission
from cases.enums import Permission, ReportSource, Role, SlaStatus
from cases.lifecycle.actors import Actor
from cases.lifecycle.deployed import definitions
from cases.models import Case, User
from cases.review.bulk import (
    BULK_FIELDS,
    MAX_SELECTION,
    bulk_options,
    bulk_transition,
    selected_cases,
)
from cases.review.claims import ClaimConflict, claim_case, claim_next, reassign_case, release_case
from cases.review.notes import MAX_NOTE
from cases.review.queues import (
    ME,
    SORT_LABELS,
    UNASSIGNED,
    InvalidCursor,
    Queue,
    QueueFilters,
    QueueNotFound,
    SortOrder,
    get_queue,
    list_queue,
    queue_counts,
    queues_for,
)
from cases.review.search import MAX_QUERY, search_cases
from workflows import PriorityBand, RequiredField

bp = Blueprint("queues", __name__)

ANY = ""
SOURCE_LABELS = {
    ReportSource.user_report: "User report",
    ReportSource.classifier: "Classifier detection",
    ReportSource.provider_notice: "Provider notice",
    ReportSource.internal: "Internal referral",
}
SLA_LABELS = {
    SlaStatus.breached: "Breached",
    SlaStatus.due_soon: "Due soon",
    SlaStatus.on_track: "On track",
    SlaStatus.paused: "Paused",
}


@bp.before_request
@login_required
def require_staff():
    require_permission(current_user.role, Permission.view_cases)


@bp.context_processor
def helpers():
    return {
        "case_url": case_url,
        "state_label": state_label,
        "clause_label": clause_label,
        "SLA_LABELS": SLA_LABELS,
    }


def case_url(reference: str) -> str:
    """The case page, wherever the case blueprint puts it (or its documented path)."""
    if "cases.detail" in current_app.view_functions:
        return url_for("cases.detail", reference=reference)
    return f"/cases/{quote(reference)}"


def state_label(case: Case) -> str:
    workflow = definitions().workflows.get(case.workflow_name)
    state = workflow.states.get(case.state) if workflow else None
    return state.label if state else case.state.replace("_", " ")


def clause_label(clause_id: str | None) -> str:
    if clause_id is None:
        return "—"
    try:
        return definitions().policy.clause(clause_id).label
    except KeyError:
        return clause_id


def _queue(name: str) -> Queue:
    try:
        return get_queue(name, viewer=current_user)
    except QueueNotFound:
        abort(404)


def _case(session: Session, reference: str) -> Case:
    return get_case(session, reference=reference, viewer=current_user)


def _workers(session: Session, *, restricted: bool) -> list[User]:
    """Active staff who may work cases (restricted ones, if `restricted`)."""
    needed = Permission.work_restricted if restricted else Permission.work_cases
    roles = [role.value for role in Role if needed in ROLE_PERMISSIONS[role]]
    return list(
        session.exec(
            select(User)
            .where(col(User.role).in_(roles), col(User.active).is_(True))
            .order_by(User.email)
        )
    )


# --- overview and queue pages ----------------------------------------------------------------


@bp.get("/queues")
def index():
    session = get_session()
    return render_template(
        "queues/index.html",
        queues=queues_for(current_user),
        counts=queue_counts(session, viewer=current_user),
        action_form=ActionForm(formdata=None),
    )


class FilterForm(Form):
    """The queue page's filters and sort (a GET form: it changes nothing, so no CSRF token)."""

    category = SelectField("Policy area", default=ANY)
    clause = SelectField("Policy clause", default=ANY)
    source = SelectField(
        "Report source",
        choices=[SelectChoice(ANY, "Any source")]
        + [SelectChoice(s.value, label) for s, label in SOURCE_LABELS.items()],
        default=ANY,
    )
    band = SelectField(
        "Priority",
        choices=[SelectChoice(ANY, "Any priority")]
        + [SelectChoice(p.value, p.value.upper()) for p in PriorityBand],
        default=ANY,
    )
    sla = SelectField(
        "SLA",
        choices=[SelectChoice(ANY, "Any SLA state")]
        + [SelectChoice(s.value, label) for s, label in SLA_LABELS.items()],
        default=ANY,
    )
    assignee = SelectField("Assignee", default=ANY)
    sort = SelectField(
        "Sort",
        choices=[SelectChoice(s.value, label) for s, label in SORT_LABELS.items()],
        default=SortOrder.priority.value,
    )

    def __init__(self, formdata, *, workers: list[User]):
        super().__init__(formdata)
        policy = definitions().policy
        self.category.choices = [SelectChoice(ANY, "Any area")] + [
            SelectChoice(g.id, g.label) for g in policy.groups
        ]
        self.clause.choices = [SelectChoice(ANY, "Any clause")] + [
            SelectChoice(c.id, c.label) for c in policy.clauses
        ]
        self.assignee.choices = [
            SelectChoice(ANY, "Anyone"),
            SelectChoice(ME, "Me"),
            SelectChoice(UNASSIGNED, "Unassigned"),
        ] + [SelectChoice(str(user.id), user.name or user.email) for user in workers]

    def filters(self) -> QueueFilters:
        """The chosen filters (ANY, the empty choice, is no filter)."""
        return QueueFilters(
            category=self.category.data or None,
            clause=self.clause.data or None,
            source=ReportSource(self.source.data) if self.source.data else None,
            band=self.band.data or None,
            sla=SlaStatus(self.sla.data) if self.sla.data else None,
            assignee=self.assignee.data or None,
        )

    def query_args(self) -> dict[str, str]:
        """The chosen filters and sort as query arguments (for the pager's links)."""
        return {name: field.data for name, field in self._fields.items() if field.data}


class ActionForm(FlaskForm):
    """A button with nothing to fill in; `next` is where to come back to."""

    next = HiddenField()


def _back_to(default: str):
    """Redirect to the form's `next` if it is a path on this site, else to `default`."""
    target = request.form.get("next", "")
    parts = urlsplit(target)
    local = target.startswith("/") and not parts.scheme and not parts.netloc and "\\" not in target
    return redirect(target if local else default, code=303)


@bp.get("/queues/<name>")
def queue(name: str):
    session = get_session()
    current = _queue(name)
    form = FilterForm(request.args, workers=_workers(session, restricted=current.restricted))
    page, status = None, 200
    if form.validate():
        try:
            page = list_queue(
                session,
                queue=current,
                viewer=current_user,
                filters=form.filters(),
                sort=SortOrder(form.sort.data),
                cursor=request.args.get("after") or None,
                limit=current_app.config["QUEUE_PAGE_SIZE"],
            )
        except InvalidCursor as exc:
            flash(str(exc), "error")
            status = 400
    else:
        status = 400
    return (
        render_template(
            "queues/queue.html",
            queue=current,
            form=form,
            page=page,
            first_page=request.args.get("after") is None,
            action_form=ActionForm(formdata=None, next=request.full_path.rstrip("?")),
        ),
        status,
    )


# --- claims ----------------------------------------------------------------------------------


@bp.post("/queues/<name>/claim-next")
def claim_next_case(name: str):
    session = get_session()
    current = _queue(name)
    case = claim_next(session, queue=current.name, actor=Actor.staff(current_user))
    if case is None:
        flash(f"No unclaimed case is waiting in {current.label}.", "info")
        return redirect(url_for("queues.queue", name=current.name), code=303)
    session.commit()
    flash(f"You hold the claim on {case.reference}.", "success")
    return redirect(case_url(case.reference), code=303)


@bp.post("/queues/cases/<reference>/claim")
def claim(reference: str):
    return _claim_action(reference, claim_case, "You hold the claim on {ref}.")


@bp.post("/queues/cases/<reference>/release")
def release(reference: str):
    return _claim_action(reference, release_case, "{ref} is back in its queue.")


def _claim_action(reference: str, service, done: str):
    session = get_session()
    case = _case(session, reference)
    try:
        service(session, case=case, actor=Actor.staff(current_user))
    except ClaimConflict as exc:
        flash(f"{exc}.", "error")
        return _back_to(case_url(case.reference))
    session.commit()
    flash(done.format(ref=case.reference), "success")
    return _back_to(case_url(case.reference))


class ReassignForm(FlaskForm):
    assignee = SelectField(
        "New assignee", coerce=int, validators=[InputRequired(message="Choose someone.")]
    )
    next = HiddenField()


@bp.route("/queues/cases/<reference>/reassign", methods=["GET", "POST"])
def reassign(reference: str):
    require_permission(current_user.role, Permission.reassign_cases)
    session = get_session()
    case = _case(session, reference)
    form = ReassignForm(next=request.args.get("next", ""))
    workers = {user.id: user for user in _workers(session, restricted=case.restricted)}
    form.assignee.choices = [
        SelectChoice(user.id, f"{user.email} ({user.role})") for user in workers.values()
    ]
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("queues/reassign.html", case=case, form=form), status
    assignee = workers[form.assignee.data]
    reassign_case(session, case=case, assignee=assignee, actor=Actor.staff(current_user))
    session.commit()
    flash(f"{case.reference} is now with {assignee.email}.", "success")
    return _back_to(case_url(case.reference))


# --- bulk actions ----------------------------------------------------------------------------


class BulkForm(FlaskForm):
    transition = SelectField("Action", validators=[InputRequired(message="Choose an action.")])
    # No Optional(): it would stop validation before validate_note asks whether a note is needed.
    note = TextAreaField("Note (internal)", validators=[Length(max=MAX_NOTE)])
    policy_clause = SelectField("Policy clause", default=ANY)

    def __init__(self, *args, options, **kwargs):
        super().__init__(*args, **kwargs)
        self.options = {option.name: option for option in options}
        self.transition.choices = [
            SelectChoice(o.name, f"{o.label} (allowed for {o.allowed})") for o in options
        ]
        self.policy_clause.choices = [SelectChoice(ANY, "Not needed")] + [
            SelectChoice(c.id, f"{g.label}: {c.label}")
            for g in definitions().policy.groups
            for c in g.clauses
        ]

    def validate_note(self, field):
        self._require(RequiredField.note, field, "This action needs a note.")

    def validate_policy_clause(self, field):
        self._require(RequiredField.policy_clause, field, "This action needs a policy clause.")

    def _require(self, needed: RequiredField, field, message: str) -> None:
        option = self.options.get(self.transition.data)
        if option is not None and needed in option.requires and not (field.data or "").strip():
            raise ValidationError(message)

    def needed_by(self, name: str) -> list[str]:
        """Labels of the offered actions that need the field `name`."""
        return [o.label for o in self.options.values() if name in o.requires]

    def fields(self) -> dict[str, str]:
        return {name: self[name].data.strip() for name in BULK_FIELDS if self[name].data}


def _bulk_page(session: Session, references: list[str], *, formdata=None):
    cases = selected_cases(session, references=references, viewer=current_user)
    options = bulk_options(session, cases=cases, actor=Actor.staff(current_user))
    form = BulkForm(formdata=formdata, options=options)
    return cases, form


@bp.get("/queues/<name>/bulk")
def bulk(name: str):
    session = get_session()
    current = _queue(name)
    references = request.args.getlist("case")
    if not references:
        flash("Select at least one case first.", "error")
        return redirect(url_for("queues.queue", name=current.name), code=303)
    cases, form = _bulk_page(session, references)
    return render_template(
        "queues/bulk.html", queue=current, cases=cases, form=form, limit=MAX_SELECTION
    )


@bp.post("/queues/<name>/bulk")
def bulk_apply(name: str):
    session = get_session()
    current = _queue(name)
    references = request.form.getlist("case")[:MAX_SELECTION]
    cases, form = _bulk_page(session, references, formdata=request.form)
    if not cases or not form.validate_on_submit():
        if not cases:
            flash("None of the selected cases is available to you.", "error")
        return render_template(
            "queues/bulk.html", queue=current, cases=cases, form=form, limit=MAX_SELECTION
        ), 422
    results = bulk_transition(
        session,
        references=references,
        transition=form.transition.data,
        actor=Actor.staff(current_user),
        fields=form.fields(),
    )
    session.commit()
    option = form.options[form.transition.data]
    return render_template(
        "queues/bulk_results.html", queue=current, option=option, results=results
    )


# --- search ----------------------------------------------------------------------------------


class SearchForm(Form):
    q = SearchField(
        "Reference, subject id or words from a report",
        validators=[Optional(), Length(max=MAX_QUERY)],
    )


@bp.get("/search")
def search():
    form = SearchForm(request.args)
    hits, status = None, 200
    if form.q.data and form.validate():
        hits = search_cases(
            get_session(),
            query=form.q.data,
            viewer=current_user,
            limit=current_app.config["QUEUE_PAGE_SIZE"],
        )
    elif form.q.data:
        status = 400
    return render_template("queues/search.html", form=form, hits=hits), status


def init_app(app) -> None:
    app.register_blueprint(bp)
