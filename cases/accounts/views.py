"""Staff sign-in and sign-out (server-side sessions), and the admin pages of staff accounts,
API keys and the append-only record of account events."""

import logging
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie_session
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from cases.accounts.access import CaseNotFound
from cases.accounts.forms import (
    AccountEventFilter,
    ApiKeyForm,
    LoginForm,
    PasswordForm,
    RoleForm,
)
from cases.accounts.service import (
    AccountError,
    change_role,
    create_api_key,
    deactivate_user,
    list_account_events,
    list_api_keys,
    list_users,
    reactivate_user,
    revoke_api_key,
    set_password,
)
from cases.accounts.sessions import resume_session, touch_session
from cases.accounts.signin import (
    LoginPolicy,
    LoginRefused,
    LoginThrottled,
    client_key,
    sign_in,
    sign_out,
)
from cases.core.db import get_session, session_scope
from cases.core.errors import error_response
from cases.core.extensions import limiter, login_manager, request_client
from cases.core.security import require_permission
from cases.core.web import private_page
from cases.enums import AccountEventType, Permission
from cases.models import ApiKey, User

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)
admin_bp = Blueprint("accounts", __name__, url_prefix="/admin")
keys_bp = Blueprint("api_keys", __name__, url_prefix="/admin")

SESSION_TOKEN = "staff_session"  # the Flask session's key for the server-side session's token
_SEEN = "docket.staff_session_seen"
NEXT_MAX = 2000
MAX_ROW_ID = 2**63 - 1  # a larger id in the URL is no row, and SQLite cannot even compare it
ACCOUNT_EVENTS_PAGE_SIZE = 50
# Shown on the users page; the account events page has the rest.
USER_CHANGES = (
    AccountEventType.created,
    AccountEventType.role_changed,
    AccountEventType.deactivated,
    AccountEventType.reactivated,
    AccountEventType.password_changed,
)


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target or len(target) > NEXT_MAX:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


def _login_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


def _login_page(form: LoginForm, status: int, headers: dict | None = None):
    return render_template("auth/login.html", form=form), status, headers or {}


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if not form.validate_on_submit():
        return _login_page(form, 400 if form.errors else 200)
    session = get_session()
    client = client_key(request_client(), secret=current_app.config["SECRET_KEY"])
    try:
        signed = sign_in(
            session,
            email=form.email.data,
            password=form.password.data,
            client=client,
            policy=LoginPolicy.from_config(current_app.config),
            replaces=cookie_session.get(SESSION_TOKEN),
        )
    except LoginRefused as refused:
        session.commit()  # the attempt is on record and counts toward the throttle
        form.password.errors.append(str(refused))
        if isinstance(refused, LoginThrottled):
            return _login_page(form, 429, {"Retry-After": str(refused.retry_after)})
        return _login_page(form, 401)
    session.commit()
    cookie_session[SESSION_TOKEN] = signed.token
    login_user(signed.user)
    if signed.failures:
        plural = "s" if signed.failures != 1 else ""
        flash(
            f"{signed.failures} failed sign-in attempt{plural} since your last visit, the last "
            f"at {signed.last_failure_at:%Y-%m-%d %H:%M} UTC. If that was not you, tell an "
            "administrator.",
            "warning",
        )
    return redirect(safe_next(form.next.data) or url_for("web.home"))


@bp.post("/logout")
@login_required
def logout():
    session = get_session()
    sign_out(
        session, user=current_user._get_current_object(), token=cookie_session.get(SESSION_TOKEN)
    )
    session.commit()
    logout_user()
    cookie_session.pop(SESSION_TOKEN, None)
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    token = cookie_session.get(SESSION_TOKEN)
    if not isinstance(token, str) or not user_id.isdecimal():
        return None
    config = current_app.config
    resumed = resume_session(
        get_session(),
        token=token,
        user_id=int(user_id),
        lifetime=timedelta(seconds=int(config["SESSION_LIFETIME_SECONDS"])),
        idle=timedelta(seconds=int(config["SESSION_IDLE_SECONDS"])),
    )
    if resumed is None:
        return None
    if resumed.stale:
        g.setdefault(_SEEN, resumed.session_id)
    return resumed.user


def record_session_use(_exc: BaseException | None) -> None:
    """Move the session's last-seen time in a transaction of its own, after the request's own
    has closed: a page view must not write, and on SQLite a writing request holds the lock."""
    seen = g.pop(_SEEN, None)
    if seen is None:
        return
    try:
        with session_scope() as session:
            touch_session(session, session_id=seen)
            session.commit()
    except SQLAlchemyError:
        # Harmless to miss: the next request records the visit instead.
        log.warning("could not record the use of a staff session", exc_info=True)


# --- staff accounts ----------------------------------------------------------------------------


@admin_bp.before_request
@login_required
def require_account_management():
    require_permission(current_user.role, Permission.manage_users)


def _user(user_id: int) -> User:
    user = get_session().get(User, user_id) if user_id <= MAX_ROW_ID else None
    if user is None:
        abort(404, "There is no such staff account.")
    return user


@admin_bp.get("/users")
def users():
    session = get_session()
    staff = list_users(session)
    history = list_account_events(session, types=USER_CHANGES, limit=20).events
    return render_template(
        "accounts/users.html",
        users=staff,
        forms={user.id: RoleForm(prefix=f"u{user.id}", role=user.role) for user in staff},
        history=history,
        emails={user.id: user.email for user in staff},
    )


@admin_bp.post("/users/<int:user_id>/role")
def set_role(user_id: int):
    session = get_session()
    user = _user(user_id)
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
    flash(f"{user.email} is now {user.role}; their open sessions were ended.", "success")
    return redirect(url_for("accounts.users"))


@admin_bp.post("/users/<int:user_id>/deactivate")
def deactivate(user_id: int):
    session = get_session()
    user = _user(user_id)
    try:
        changed = deactivate_user(session, user=user, actor=current_user)
    except AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("accounts.users"))
    session.commit()
    if changed:
        flash(f"{user.email} is deactivated; their open sessions were ended.", "success")
    else:
        flash(f"{user.email} was already deactivated.", "info")
    return redirect(url_for("accounts.users"))


@admin_bp.post("/users/<int:user_id>/reactivate")
def reactivate(user_id: int):
    session = get_session()
    user = _user(user_id)
    changed = reactivate_user(session, user=user, actor=current_user)
    session.commit()
    flash(f"{user.email} {'may sign in again' if changed else 'was already active'}.", "success")
    return redirect(url_for("accounts.users"))


@admin_bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
def password(user_id: int):
    session = get_session()
    user = _user(user_id)
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            set_password(session, user=user, password=form.password.data, actor=current_user)
        except AccountError as exc:
            form.password.errors.append(str(exc))
        else:
            session.commit()
            flash(f"{user.email} has a new password; their open sessions were ended.", "success")
            return redirect(url_for("accounts.users"))
    status = 400 if form.errors else 200
    return render_template("accounts/password.html", user=user, form=form), status


@admin_bp.get("/account-events")
def events():
    session = get_session()
    staff = list_users(session)
    form = AccountEventFilter(request.args, users=staff)
    page, status = None, 200
    if form.validate():
        page = list_account_events(
            session,
            user_id=int(form.user.data) if form.user.data else None,
            types=(AccountEventType(form.type.data),) if form.type.data else None,
            before=form.before.data,
            limit=ACCOUNT_EVENTS_PAGE_SIZE,
        )
    else:
        status = 400
    return render_template(
        "accounts/events.html",
        form=form,
        page=page,
        first_page=form.before.data is None,
        emails={user.id: user.email for user in staff},
    ), status


# --- API keys ----------------------------------------------------------------------------------


@keys_bp.before_request
@login_required
def require_key_management():
    require_permission(current_user.role, Permission.manage_api_keys)


def _keys_page(form: ApiKeyForm, status: int = 200):
    session = get_session()
    return render_template(
        "accounts/api_keys.html",
        keys=list_api_keys(session),
        form=form,
        emails={user.id: user.email for user in list_users(session)},
    ), status


@keys_bp.get("/api-keys")
def index():
    return _keys_page(ApiKeyForm(formdata=None))


@keys_bp.post("/api-keys")
def create():
    session = get_session()
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _keys_page(form, 400)
    try:
        api_key, key = create_api_key(
            session, name=form.name.data, scopes=form.scopes.data, actor=current_user
        )
    except AccountError as exc:
        form[exc.field or "name"].errors.append(str(exc))
        return _keys_page(form, 400)
    session.commit()
    # Shown on this response only: nothing keeps the key, so it is never redirected or flashed.
    page = render_template("accounts/api_key_created.html", api_key=api_key, key=key)
    return private_page(current_app.make_response((page, 201)))


@keys_bp.post("/api-keys/<int:key_id>/revoke")
def revoke(key_id: int):
    session = get_session()
    api_key = session.get(ApiKey, key_id) if key_id <= MAX_ROW_ID else None
    if api_key is None:
        abort(404, "There is no such API key.")
    changed = revoke_api_key(session, api_key=api_key, actor=current_user)
    session.commit()
    flash(
        f"API key {api_key.name!r} {'is revoked' if changed else 'was already revoked'}.",
        "success",
    )
    return redirect(url_for("api_keys.index"))


def case_not_found(exc: CaseNotFound):
    # One answer for a case that does not exist and one the viewer may not see, on every page.
    return error_response(404, "not_found", "There is no such case, or you may not see it.")


def init_app(app: Flask) -> None:
    # The signed cookie expires with the server-side session, whatever Flask's default.
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(
        seconds=int(app.config["SESSION_LIFETIME_SECONDS"])
    )
    # First in the list, so it runs last: teardown functions run in reverse order, and this one
    # must come after cases.core.db has closed the request's session.
    app.teardown_request_funcs.setdefault(None, []).insert(0, record_session_use)
    for blueprint in (bp, admin_bp, keys_bp):
        app.register_blueprint(blueprint)
    app.register_error_handler(CaseNotFound, case_not_found)
