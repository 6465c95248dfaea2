"""HTTP helpers for tests that drive the app as a browser would (CSRF tokens included)."""

import re

from flask.testing import FlaskClient

from tests.factories import PASSWORD

_CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'name="csrf_token" value="([^"]+)"'
)


def csrf_token(client: FlaskClient, url: str) -> str:
    """The CSRF token of the form served at `url`."""
    page = client.get(url)
    match = _CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({page.status_code})"
    return match.group(1) or match.group(2)


def login(client: FlaskClient, email: str, password: str = PASSWORD, **extra):
    token = csrf_token(client, "/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token, **extra}
    )
