"""Sign-in and sign-out for staff."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Email

from cases.accounts import LoginRefused, authenticate
from cases.db import get_session
from cases.extensions import limiter

bp = Blueprint("auth", __name__)


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
