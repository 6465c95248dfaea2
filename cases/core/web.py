"""The HTML shell: security headers, HTTPS-aware cookies, body limits, navigation, home page."""

from collections.abc import Callable

from flask import Blueprint, Config, Flask, abort, current_app, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from cases.core.extensions import login_manager
from cases.core.security import has_permission
from cases.enums import Permission

bp = Blueprint("web", __name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """Mark the session cookie Secure whenever the request itself came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


@bp.get("/")
def home():
    return render_template("home.html")


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


def can(permission: str) -> bool:
    """Template helper: does the signed-in staff member hold `permission`?"""
    return current_user.is_authenticated and has_permission(
        current_user.role, Permission(permission)
    )


# (label, endpoint, permission): shown when the endpoint exists and the role holds the permission.
NAVIGATION = (
    ("Queues", "queues.index", Permission.view_cases),
    ("Search", "queues.search", Permission.view_cases),
    ("Audit", "audit.index", Permission.view_audit),
    ("Users", "accounts.users", Permission.manage_users),
    ("API keys", "api_keys.index", Permission.manage_api_keys),
    ("Account events", "accounts.events", Permission.manage_users),
    ("Jobs", "jobs.index", Permission.view_jobs),
    ("Mail", "notices.mail_index", Permission.view_jobs),
    # Leads and admins answer access requests; auditors see them (the page checks which).
    ("Access requests", "privacy.index", Permission.view_audit),
    ("Known hashes", "known_hashes.index", Permission.work_restricted),
    ("Transparency", "transparency.index", Permission.view_transparency),
    # Leads and admins work provider inquiries; auditors read them (the pages check which).
    ("Inquiries", "inquiries.index", Permission.view_audit),
)


def nav_items() -> list[tuple[str, str]]:
    return [
        (label, endpoint)
        for label, endpoint, permission in NAVIGATION
        if endpoint in current_app.view_functions and can(permission)
    ]


def private_page(response):
    """Pages that show a private link or a case: never indexed (and, as every page, never stored:
    `set_security_headers`)."""
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def body_limit(limit: Callable[[Config], int]):
    """Let a view accept bodies up to `limit(app.config)` bytes instead of MAX_CONTENT_LENGTH
    (below `route`, so the registered view carries it)."""

    def mark(view):
        view.body_limit = limit
        return view

    return mark


def reject_oversized_bodies() -> None:
    """Refuse by declared length before any view runs, so no endpoint reads half a body."""
    view_limit = getattr(current_app.view_functions.get(request.endpoint), "body_limit", None)
    if view_limit is not None:
        request.max_content_length = view_limit(current_app.config)
    limit = request.max_content_length
    if limit and request.content_length and request.content_length > limit:
        abort(413)


def set_security_headers(response):
    """The headers every response carries; every one but a static file is `no-store`."""
    headers = response.headers
    # No cache, shared or the browser's, keeps a page or an API answer: nearly all of them are a
    # case, a queue, the audit workspace, a private link or an answer to an API key, and the few
    # public ones gain nothing from a cache (their forms carry the session's CSRF token). Deciding
    # per route would leave the next new route cacheable.
    if (request.endpoint or "").rsplit(".", 1)[-1] != "static":  # the app's or a blueprint's
        headers["Cache-Control"] = "no-store"
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    # Status links carry private tokens in the path: never send them to another site. Same-origin
    # referrers stay, because Flask-WTF checks the Referer of HTTPS form posts.
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def init_app(app: Flask) -> None:
    if app.config["PROXY_FIX_HOPS"]:
        hops = int(app.config["PROXY_FIX_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.session_interface = HttpsAwareSessionInterface()
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    # First of all before-request functions: CSRF protection reads the form, hence the body.
    app.before_request_funcs.setdefault(None, []).insert(0, reject_oversized_bodies)
    app.after_request(set_security_headers)
    app.jinja_env.globals.update(can=can, nav_items=nav_items)
    app.register_blueprint(bp)
