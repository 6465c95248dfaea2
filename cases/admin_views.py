"""Administration: staff accounts and their roles; background jobs."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlmodel import func, select
from wtforms import SelectField

from cases.accounts import AccountError, change_role, list_users
from cases.db import get_session
from cases.enums import OutboxStatus, Permission, Role
from cases.models import AccountEvent, Outbox, User
from cases.outbox import retry_job
from cases.security import require_permission

bp = Blueprint("admin", __name__, url_prefix="/admin")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[role.value for role in Role])


# Pages that need another permission than the blueprint's default, account management.
PAGE_PERMISSIONS = {
    "admin.jobs": Permission.view_jobs,
    "admin.retry_job": Permission.view_jobs,
}


@bp.before_request
@login_required
def require_page_permission():
    permission = PAGE_PERMISSIONS.get(request.endpoint, Permission.manage_users)
    require_permission(current_user.role, permission)


@bp.get("/users")
def users():
    session = get_session()
    history = session.exec(
        select(AccountEvent)
        .where(AccountEvent.type == "role_changed")
        .order_by(AccountEvent.id.desc())
        .limit(20)
    ).all()
    staff = list_users(session)
    emails = {user.id: user.email for user in staff}
    forms = {user.id: RoleForm(prefix=f"u{user.id}", role=user.role) for user in staff}
    return render_template(
        "admin/users.html", users=staff, forms=forms, history=history, emails=emails
    )


@bp.post("/users/<int:user_id>/role")
def set_role(user_id: int):
    session = get_session()
    user = session.get(User, user_id)
    if user is None:
        flash("No such user.", "error")
        return redirect(url_for("admin.users"))
    form = RoleForm(prefix=f"u{user_id}")
    if not form.validate_on_submit():
        flash("Choose one of the listed roles.", "error")
        return redirect(url_for("admin.users"))
    try:
        change_role(session, user=user, role=form.role.data, actor=current_user)
    except AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.users"))
    session.commit()
    flash(f"{user.email} is now {user.role}.", "success")
    return redirect(url_for("admin.users"))


JOB_LIST_LIMIT = 100


def _outbox_rows(statuses: tuple[str, ...], *, limit: int, oldest_first: bool = False):
    session = get_session()
    order = Outbox.id if oldest_first else Outbox.id.desc()
    return session.exec(
        select(Outbox).where(Outbox.status.in_(statuses)).order_by(order).limit(limit)
    ).all()


@bp.get("/jobs")
def jobs():
    counts = get_session().exec(select(Outbox.status, func.count()).group_by(Outbox.status))
    return render_template(
        "admin/jobs.html",
        counts=dict(counts.all()),
        failed=_outbox_rows((OutboxStatus.failed,), limit=JOB_LIST_LIMIT),
        waiting=_outbox_rows(
            (OutboxStatus.pending, OutboxStatus.dispatched), limit=JOB_LIST_LIMIT, oldest_first=True
        ),
        done=_outbox_rows((OutboxStatus.done,), limit=20),
        limit=JOB_LIST_LIMIT,
    )


@bp.post("/jobs/<int:outbox_id>/retry", endpoint="retry_job")
def retry_failed_job(outbox_id: int):
    session = get_session()
    outbox = session.get(Outbox, outbox_id)
    if outbox is None:
        abort(404)
    try:
        retry_job(session, outbox=outbox, actor=current_user)
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.jobs"))
    session.commit()
    flash(f"Job {outbox.id} ({outbox.job}) was sent again.", "success")
    return redirect(url_for("admin.jobs"))
