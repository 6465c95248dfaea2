"""Flask extensions, created unbound and attached in create_app()."""

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def public_limit() -> str:
    """The rate limit of the public pages (the report form, private links)."""
    return current_app.config["RATELIMIT_PUBLIC"]
