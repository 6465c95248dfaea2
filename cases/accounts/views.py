"""Staff sign-in and sign-out, and the admin page of staff accounts and their roles."""

from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlmodel import select
from wtforms import EmailField, HiddenField, PasswordField, SelectField
from wtforms.validators import DataRequired, Email

from cases.accounts.access import CaseNotFound
from cases.accounts.service import AccountError, LoginRefused, authenticate, change_role, list_users
from cases.core.db import get_session
from cases.core.errors import error_response
from cases.core.extensions import limiter, login_manager
from cases.core.security import require_permission
from cases.enums import Permission, Role
from cases.models import AccountEvent, User

bp = Blueprint("auth", __name__)
admin_bp = Blueprint("accounts", __name__, url_prefix="/admin")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired()])
    next = HiddenField()


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


def _login_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        session = get_session()
        try:
            user = authenticate(
                session,
                email=form.email.data,
                password=form.password.data,
                max_failures=current_app.config["LOGIN_MAX_FAILURES"],
                lock_minutes=current_app.config["LOGIN_LOCK_MINUTES"],
            )
        except LoginRefused as refused:
            session.commit()  # the failure count and any lock must persist
            form.password.errors.append(str(refused))
            return render_template("auth/login.html", form=form), 401
        session.commit()
        login_user(user)
        return redirect(safe_next(form.next.data) or url_for("web.home"))
    status = 400 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = get_session().get(User, int(user_id))
    return user if user and user.active else None


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[role.value for role in Role])


@admin_bp.before_request
@login_required
def require_account_management():
    require_permission(current_user.role, Permission.manage_users)


@admin_bp.get("/users")
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
        "accounts/users.html", users=staff, forms=forms, history=history, emails=emails
    )


@admin_bp.post("/users/<int:user_id>/role")
def set_role(user_id: int):
    session = get_session()
    user = session.get(User, user_id)
    if user is None:
        flash("No such user.", "error")
        return redirect(url_for("accounts.users"))
    form = RoleForm(prefix=f"u{user_id}")
    if not form.validate_on_submit():
        flash("Choose one of the listed roles.", "error")
        return redirect(url_for("accounts.users"))
    try:
        change_role(session, user=user, role=form.role.data, actor=current_user)
    except AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("accounts.users"))
    session.commit()
    flash(f"{user.email} is now {user.role}.", "success")
    return redirect(url_for("accounts.users"))


def case_not_found(exc: CaseNotFound):
    # One answer for a case that does not exist and one the viewer may not see, on every page.
    return error_response(404, "not_found", "There is no such case, or you may not see it.")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(admin_bp)
    app.register_error_handler(CaseNotFound, case_not_found)
