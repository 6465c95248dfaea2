"""Fixtures of the account tests."""

import pytest
from flask import g


@pytest.fixture(autouse=True)
def fresh_request_state(app):
    """Every request starts without the previous request's signed-in user and CSRF token, as it
    does in production. The `session` fixture keeps one app context pushed across a test's
    requests, so Flask-Login's cached user and Flask-WTF's cached token would otherwise carry
    over from one request, or one test client, to the next, and a session refused on the server
    would still look signed in."""

    def forget() -> None:
        for name in ("_login_user", "csrf_token"):
            g.pop(name, None)

    app.before_request_funcs.setdefault(None, []).insert(0, forget)
