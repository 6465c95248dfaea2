"""Administration: staff accounts and their roles."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlmodel import select
from wtforms import SelectField

from cases.accounts import AccountError, change_role, list_users
from cases.db import get_session
from cases.enums import Permission, Role
from cases.models import AccountEvent, User
from cases.security import require_permission

bp = Blueprint("admin", __name__, url_prefix="/admin")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[role.value for role in Role])


@bp.before_request
@login_required
def admins_only():
    require_permission(current_user.role, Permission.manage_users)


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
