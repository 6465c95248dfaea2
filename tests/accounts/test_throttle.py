"""Sign-in: one answer for every wrong credential, throttling per (account, client) and per client
(never per account alone), every attempt an account event, and recent failures shown after."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import select

from cases.accounts.signin import client_key
from cases.models import AccountEvent, LoginAttempt
from tests.factories import PASSWORD, make_user
from tests.helpers import count, fresh, login

WRONG = "not the password at all"
ERROR = re.compile(r'id="password-error">([^<]*)<')
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def config_overrides() -> dict:
    return {
        "LOGIN_THROTTLE_SECONDS": 900,
        "LOGIN_FAILURES_BEFORE_DELAY": 3,
        "LOGIN_FAILURES_BEFORE_BLOCK": 5,
        "LOGIN_CLIENT_FAILURES_BEFORE_BLOCK": 8,
    }


@pytest.fixture
def rita(session):
    user = make_user(session, role="reviewer", email="rita@example.org")
    session.commit()
    return user


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def other_client(app, address: str = "10.9.8.7"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def error(response) -> str:
    return ERROR.search(response.get_data(as_text=True)).group(1)


def test_failures_slow_then_stop_one_client_for_one_account(client, rita, clock):
    assert [login(client, "rita@example.org", WRONG).status_code for _ in range(3)] == [401] * 3
    # A fourth attempt right away must wait: even the right password is not looked at.
    waiting = login(client, "rita@example.org", PASSWORD)
    assert waiting.status_code == 429 and waiting.headers["Retry-After"] == "2"
    assert "Too many failed sign-in attempts" in error(waiting) and "2 seconds" in error(waiting)
    clock.shift(2)
    assert login(client, "rita@example.org", WRONG).status_code == 401
    assert login(client, "rita@example.org", WRONG).status_code == 429  # now 4 s
    clock.shift(4)
    assert login(client, "rita@example.org", WRONG).status_code == 401  # the fifth: blocked
    clock.shift(600)
    blocked = login(client, "rita@example.org", PASSWORD)
    assert blocked.status_code == 429
    # Until the first failure of the five leaves the 15-minute window.
    assert blocked.headers["Retry-After"] == str(900 - 606)
    assert "5 minutes" in error(blocked)
    clock.shift(900 - 606)
    assert login(client, "rita@example.org", PASSWORD).status_code == 302


def test_a_stranger_cannot_lock_the_owner_out(app, client, rita, clock):
    for _ in range(5):
        login(client, "rita@example.org", WRONG)
        clock.shift(60)
    assert login(client, "rita@example.org", PASSWORD).status_code == 429
    owner = other_client(app)
    assert login(owner, "rita@example.org", WRONG).status_code == 401, "counted on its own"
    response = login(owner, "rita@example.org", PASSWORD)
    assert response.status_code == 302
    assert "rita@example.org" in owner.get("/").get_data(as_text=True)


def test_signing_in_resets_the_count_for_that_client(client, rita, clock):
    for _ in range(2):
        assert login(client, "rita@example.org", WRONG).status_code == 401
    assert login(client, "rita@example.org", PASSWORD).status_code == 302
    clock.shift(1)
    for _ in range(3):
        assert login(client, "rita@example.org", WRONG).status_code == 401
    assert login(client, "rita@example.org", WRONG).status_code == 429


def test_one_client_is_stopped_across_accounts(app, client, rita, session, clock):
    for number in range(8):
        assert login(client, f"guess{number}@example.org", WRONG).status_code == 401
    stopped = login(client, "rita@example.org", PASSWORD)
    assert stopped.status_code == 429 and stopped.headers["Retry-After"] == "900"
    assert login(client, "someone-new@example.org", WRONG).status_code == 429
    assert login(other_client(app), "rita@example.org", PASSWORD).status_code == 302
    reasons = [
        event.detail["reason"]
        for event in fresh(session).exec(
            select(AccountEvent).where(AccountEvent.type == "login_throttled")
        )
    ]
    assert reasons == ["client_blocked", "client_blocked"]
    clock.shift(901)
    assert login(client, "rita@example.org", PASSWORD).status_code == 302


def test_throttling_answers_alike_for_real_and_unknown_emails(app, rita, clock):
    answers = []
    for number, email in enumerate(("rita@example.org", "nobody@example.org")):
        client = other_client(app, f"10.0.0.{number + 1}")
        for _ in range(3):
            login(client, email, WRONG)
        answers.append(login(client, email, WRONG))
    assert [a.status_code for a in answers] == [429, 429]
    assert error(answers[0]) == error(answers[1])
    assert answers[0].headers["Retry-After"] == answers[1].headers["Retry-After"]


def test_every_attempt_is_an_account_event_and_never_the_password(client, rita, session, clock):
    login(client, "Nobody@Example.org", "secret guess one")
    login(client, "RITA@Example.org", "secret guess two")
    clock.shift(10)
    login(client, "rita@example.org", PASSWORD)
    for _ in range(2):
        login(client, "nobody@example.org", WRONG)
    login(client, "nobody@example.org", WRONG)  # the third failure on that email: must wait
    events = fresh(session).exec(select(AccountEvent).order_by(AccountEvent.id)).all()
    attempts = [e for e in events if e.type.startswith("login_")]
    assert [(e.type, e.user_id) for e in attempts] == [
        ("login_failed", None),
        ("login_failed", rita.id),
        ("login_succeeded", rita.id),
        ("login_failed", None),
        ("login_failed", None),
        ("login_throttled", None),
    ]
    client_hash = client_key("127.0.0.1", secret="test-secret-key")
    assert attempts[0].detail == {
        "client": client_hash,
        "account": False,
        "email": "nobody@example.org",
    }
    assert attempts[1].detail == {
        "client": client_hash,
        "account": True,
        "reason": "wrong_password",
    }
    assert attempts[2].detail == {"client": client_hash, "account": True}
    assert attempts[-1].detail["reason"] == "delayed" and attempts[-1].detail["retry_after"] == 2
    everything = str([e.detail for e in events])
    assert "secret guess" not in everything and PASSWORD not in everything
    assert "127.0.0.1" not in everything
    # The throttle's own rows: one per attempt that reached the password check.
    rows = fresh(session).exec(select(LoginAttempt).order_by(LoginAttempt.id)).all()
    assert [(r.email, r.succeeded) for r in rows] == [
        ("nobody@example.org", False),
        ("rita@example.org", False),
        ("rita@example.org", True),
        *[("nobody@example.org", False)] * 2,
    ]


def test_the_client_key_is_a_salted_hash_of_the_address():
    key = client_key("203.0.113.9", secret="one")
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert key != client_key("203.0.113.9", secret="two")
    assert key != client_key("203.0.113.10", secret="one")
    assert key == client_key("203.0.113.9", secret="one")


def test_an_ipv6_client_is_its_64_network(app, rita, clock):
    for host in range(1, 6):
        client = other_client(app, f"2001:db8:1:2::{host}")
        login(client, "rita@example.org", WRONG)
        clock.shift(120)
    blocked = login(other_client(app, "2001:db8:1:2::99"), "rita@example.org", PASSWORD)
    assert blocked.status_code == 429
    assert (
        login(other_client(app, "2001:db8:1:3::1"), "rita@example.org", PASSWORD).status_code == 302
    )


def test_recent_failures_are_shown_after_signing_in(app, client, rita, clock):
    assert login(client, "rita@example.org").status_code == 302
    assert "failed sign-in" not in client.get("/").get_data(as_text=True)
    clock.shift(3600)
    stranger = other_client(app)
    login(stranger, "rita@example.org", WRONG)
    clock.shift(60)
    login(stranger, "rita@example.org", WRONG)
    clock.shift(60)
    owner = other_client(app, "10.1.1.1")
    login(owner, "rita@example.org")
    page = owner.get("/").get_data(as_text=True)
    assert (
        "2 failed sign-in attempts since your last visit, the last at 2026-03-02 10:01 UTC" in page
    )
    login(owner, "rita@example.org")
    assert "failed sign-in" not in owner.get("/").get_data(as_text=True), "only since last time"


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("x" * 400 + "@example.org", WRONG),
        ("rita@example.org\x00", WRONG),
        ("<script>alert(1)</script>", WRONG),
        ("", WRONG),
        ("rita@example.org", ""),
        ("rita@example.org", "p" * 5000),
    ],
    ids=["huge-email", "nul", "markup", "no-email", "no-password", "huge-password"],
)
def test_malformed_sign_in_is_400_and_not_an_attempt(client, rita, session, email, password):
    response = login(client, email, password)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<script>alert(1)" not in page
    assert count(fresh(session), LoginAttempt) == 0


def test_wrong_types_and_repeated_fields_are_handled(client, rita):
    from tests.helpers import csrf_token

    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={
            "email": ["rita@example.org", "x@example.org"],
            "password": [WRONG],
            "csrf_token": token,
        },
    )
    assert response.status_code == 401
    body = b"email=rita%40example.org&password=%ff%fe&csrf_token=" + token.encode()
    response = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 401


@pytest.mark.parametrize("seconds", [1, 3])
def test_the_delay_doubles_and_is_told(client, rita, clock, seconds):
    for _ in range(3):
        login(client, "rita@example.org", WRONG)
    clock.shift(seconds)
    response = login(client, "rita@example.org", WRONG)
    assert response.status_code == (429 if seconds < 2 else 401)
    if seconds < 2:
        assert response.headers["Retry-After"] == "1"


def test_the_window_forgets_old_failures(client, rita, clock):
    for _ in range(3):
        login(client, "rita@example.org", WRONG)
    clock.shift(timedelta(seconds=901))
    assert [login(client, "rita@example.org", WRONG).status_code for _ in range(3)] == [401] * 3
