"""The JSON API under /api/v1: bearer API keys for integrations, JSON errors throughout."""

from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from flask import Blueprint, Flask, g, request
from flask_login import current_user

from cases.accounts.service import authenticate_api_key
from cases.core.db import get_session
from cases.core.errors import ApiError
from cases.core.extensions import csrf
from cases.core.security import has_permission
from cases.core.sqltypes import utcnow
from cases.enums import Permission

bp = Blueprint("api", __name__, url_prefix="/api/v1")
LAST_USED_RESOLUTION = timedelta(minutes=1)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def api_key_required(scope: str | None = None) -> Callable:
    """Authenticate `Authorization: Bearer <key>`; 401 for missing, unknown or revoked keys."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            token = bearer_token()
            if token is None:
                raise ApiError(401, "unauthorized", "Send an API key as 'Authorization: Bearer …'.")
            session = get_session()
            api_key = authenticate_api_key(session, key=token)
            if api_key is None:
                raise ApiError(401, "unauthorized", "The API key is unknown or revoked.")
            if scope and scope not in api_key.scopes:
                raise ApiError(403, "forbidden", f"This API key lacks the {scope!r} scope.")
            now = utcnow()
            # Minute resolution is enough to see which keys are in use, and skipping the write
            # keeps concurrent requests of one integration from queueing on its row's lock.
            if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
                api_key.last_used_at = now  # saved when the request commits a change
            g.api_key = api_key
            return view(*args, **kwargs)

        return wrapper

    return decorator


def current_viewer(scope: str):
    """The caller: an API key holding `scope`, or a signed-in staff member (session cookie)."""
    if bearer_token() is None and current_user.is_authenticated:
        if not has_permission(current_user.role, Permission.view_cases):
            raise ApiError(403, "forbidden", "Your role may not view cases.")
        return current_user._get_current_object()
    api_key_required(scope)(lambda: None)()
    return g.api_key


@bp.get("/me")
@api_key_required()
def me():
    return {"name": g.api_key.name, "scopes": g.api_key.scopes, "prefix": g.api_key.prefix}


def init_app(app: Flask) -> None:
    from cases.api import appeals, cases, intake, log, openapi  # noqa: F401  (their routes)

    csrf.exempt(bp)  # bearer keys, not cookies: nothing for a cross-site form to ride on
    app.register_blueprint(bp)
