import re

import pytest

from tests.factories import PASSWORD, make_user
from tests.helpers import csrf_token, login

ERROR = re.compile(r'id="password-error">([^<]*)<')


@pytest.fixture
def reviewer(session):
    user = make_user(session, role="reviewer", email="rita@example.org")
    session.commit()
    return user


def test_login_then_logout(client, reviewer):
    response = login(client, "rita@example.org")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "rita@example.org" in client.get("/").get_data(as_text=True)
    token = csrf_token(client, "/")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert "Staff sign in" in client.get("/").get_data(as_text=True)


def test_wrong_password_is_refused_next_to_the_field(client, reviewer):
    response = login(client, "rita@example.org", "not the password")
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert 'id="password-error"' in page and "Email or password is incorrect." in page
    assert "attempts left" not in page and "locked" not in page


def test_unknown_email_wrong_password_and_deactivated_account_look_the_same(
    client, reviewer, session
):
    retired = make_user(session, role="reviewer", email="gone@example.org")
    retired.active = False
    session.commit()
    answers = [
        login(client, "nobody@example.org", "whatever-it-is"),
        login(client, "rita@example.org", "not the password"),
        login(client, "gone@example.org", PASSWORD),
    ]
    assert {r.status_code for r in answers} == {401}
    errors = {ERROR.search(r.get_data(as_text=True)).group(1) for r in answers}
    assert errors == {"Email or password is incorrect."}


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/admin/users", "/admin/users"),
        ("/cases/DK-2026-000001?tab=events", "/cases/DK-2026-000001?tab=events"),
        ("https://evil.example/phish", "/"),
        ("//evil.example/phish", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_next_redirect_stays_on_this_site(client, reviewer, next_url, expected):
    response = login(client, "rita@example.org", next=next_url)
    assert response.headers["Location"] == expected


def test_login_without_csrf_token_is_rejected(client, reviewer):
    response = client.post("/login", data={"email": "rita@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert "security token is missing" in response.get_data(as_text=True)
    assert "session" not in response.headers.get("Set-Cookie", "") or "user_id" not in str(
        client.get_cookie("session")
    )


def test_logout_is_post_only(client, reviewer):
    login(client, "rita@example.org")
    response = client.get("/logout")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
    assert "rita@example.org" in client.get("/").get_data(as_text=True)


def test_logout_without_csrf_token_is_rejected(client, reviewer):
    login(client, "rita@example.org")
    assert client.post("/logout").status_code == 400
    assert "rita@example.org" in client.get("/").get_data(as_text=True)


def test_session_cookie_is_httponly_and_lax_over_http(client, reviewer):
    cookie = login(client, "rita@example.org").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_session_cookie_is_secure_over_https(client, reviewer):
    client.get("https://localhost/")
    token = csrf_token(client, "https://localhost/login")
    response = client.post(
        "https://localhost/login",
        data={"email": "rita@example.org", "password": PASSWORD, "csrf_token": token},
        headers={"Referer": "https://localhost/login"},
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_is_rate_limited_per_client(database_url, tmp_path):
    from app import create_app

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "i"),
            "SECRET_KEY": "k",
            "RATELIMIT_LOGIN": "3 per minute",
            "WTF_CSRF_ENABLED": False,
        }
    )
    client = app.test_client()
    statuses = [
        client.post("/login", data={"email": "a@example.org", "password": "x"}).status_code
        for _ in range(4)
    ]
    assert statuses[:3] == [401, 401, 401] and statuses[3] == 429
    app.extensions["docket.db"].dispose()


def test_security_headers_on_every_response(client):
    for url in ("/", "/login", "/no-such-page", "/api/v1/me"):
        headers = client.get(url).headers
        assert "default-src 'self'" in headers["Content-Security-Policy"], url
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
