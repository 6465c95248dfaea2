"""`/admin/access-requests`: open access requests with their due dates, a form to record one, and
fulfilment, which downloads the export. Leads and admins answer; auditors read the list."""

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user, login_required

from cases.core.db import get_session
from cases.core.web import private_page
from cases.models import AccessRequest
from cases.privacy.cli import access_request_cli
from cases.privacy.forms import FulfilForm, OpenRequestForm
from cases.privacy.service import (
    FILE_TYPES,
    RequestClosed,
    SubjectNotFound,
    answers_requests,
    fulfil_request,
    list_requests,
    require_request_role,
    staff_request,
)

bp = Blueprint("privacy", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def readers_only():
    require_request_role(current_user, write=False)


def _page(form: OpenRequestForm | None = None, status: int = 200):
    listing = list_requests(get_session(), viewer=current_user)
    page = render_template(
        "privacy/requests.html",
        listing=listing,
        form=form or OpenRequestForm(),
        fulfil_form=FulfilForm(),
        may_answer=answers_requests(current_user),
    )
    return private_page(make_response(page, status))


@bp.get("/access-requests")
def index():
    return _page()


@bp.post("/access-requests")
def open_request():
    require_request_role(current_user, write=True)
    form = OpenRequestForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    session = get_session()
    try:
        request = staff_request(
            session, staff=current_user, kind=form.kind.data, external_id=form.external_id.data
        )
    except SubjectNotFound as exc:
        form.external_id.errors.append(f"Not found: {exc}.")
        return _page(form, status=404)
    session.commit()
    flash(
        f"Access request {request.id} is open; answer it by {request.due_at:%d %B %Y}.", "success"
    )
    return redirect(url_for("privacy.index"))


@bp.post("/access-requests/<int:request_id>/fulfil")
def fulfil(request_id: int):
    require_request_role(current_user, write=True)
    form = FulfilForm()
    if not form.validate_on_submit():
        abort(400, description="Choose HTML, JSON or zip, from the access requests page.")
    session = get_session()
    request = session.get(AccessRequest, request_id)
    if request is None:
        abort(404, description=f"There is no access request {request_id}.")
    try:
        done = fulfil_request(
            session,
            request=request,
            actor_label=f"user:{current_user.id}",
            fulfilled_by_id=current_user.id,
        )
    except RequestClosed as exc:
        flash(f"{exc}.", "error")
        return redirect(url_for("privacy.index"))
    chosen = form.format.data
    # Rendered before the commit: a failure here records nothing as handed over.
    body = done.file(chosen)
    session.commit()
    response = make_response(body)
    response.headers["Content-Type"] = FILE_TYPES[chosen]
    response.headers["Content-Disposition"] = f'attachment; filename="{done.name}.{chosen}"'
    return private_page(response)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(access_request_cli)
