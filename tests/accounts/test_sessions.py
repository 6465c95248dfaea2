"""Server-side sessions: signing out, deactivation, a role change and a password change end them
at once, copied cookies included; they idle out and run out; the last visit is written at most
once a minute."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import select

from cases.accounts.service import change_role, deactivate_user, set_password
from cases.accounts.sessions import resume_session, session_id, start_session
from cases.models import AccountEvent, StaffSession
from tests.factories import make_user
from tests.helpers import csrf_token, fresh, login

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def rita(session):
    user = make_user(session, role="reviewer", email="rita@example.org")
    session.commit()
    return user


def signed_in(client) -> bool:
    """Whether the client reaches a staff page (else it is sent to sign in)."""
    response = client.get("/queues")
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/login")
    return response.status_code == 200


def copy_of(app, client):
    """Another browser holding a copy of `client`'s session cookie."""
    thief = app.test_client()
    thief.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def rows(session) -> list[StaffSession]:
    return fresh(session).exec(select(StaffSession).order_by(StaffSession.created_at)).all()


def test_a_copied_cookie_is_refused_after_sign_out(app, client, rita, session):
    login(client, "rita@example.org")
    thief = copy_of(app, client)
    assert signed_in(thief), "before sign-out the copy works (that is why sign-out must end it)"
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 302
    assert not signed_in(thief) and not signed_in(client)
    (row,) = rows(session)
    assert row.user_id == rita.id and row.ended_reason == "logged_out" and row.ended_at
    types = [
        e.type for e in session.exec(select(AccountEvent).where(AccountEvent.user_id == rita.id))
    ]
    assert types[-1] == "logged_out"


def test_the_cookie_holds_a_token_and_the_database_only_its_hash(app, client, rita, session):
    login(client, "rita@example.org")
    cookie = client.get_cookie("session").value
    data = app.session_interface.get_signing_serializer(app).loads(cookie)
    token = data["staff_session"]
    (row,) = rows(session)
    assert row.id == session_id(token) != token


def test_a_cookie_without_a_server_session_is_refused(app, client, rita):
    # What a cookie from before server-side sessions carried: the user id alone.
    forged = app.session_interface.get_signing_serializer(app).dumps(
        {"_user_id": str(rita.id), "_fresh": True}
    )
    client.set_cookie("session", forged)
    assert not signed_in(client)


def test_a_session_token_of_someone_else_is_refused(app, client, rita, session):
    admin = make_user(session, role="admin")
    token = start_session(session, user=admin)
    session.commit()
    forged = app.session_interface.get_signing_serializer(app).dumps(
        {"_user_id": str(rita.id), "_fresh": True, "staff_session": token}
    )
    client.set_cookie("session", forged)
    assert not signed_in(client)


@pytest.mark.parametrize(
    "take_away",
    [
        lambda s, user, admin: deactivate_user(s, user=user, actor=admin),
        lambda s, user, admin: change_role(s, user=user, role="auditor", actor=admin),
        lambda s, user, admin: set_password(s, user=user, password="a brand new one", actor=None),
    ],
    ids=["deactivated", "role_changed", "password_changed"],
)
def test_taking_access_away_ends_every_open_session(app, client, rita, session, take_away):
    admin = make_user(session, role="admin")
    session.commit()
    login(client, "rita@example.org")
    laptop = app.test_client()
    login(laptop, "rita@example.org")
    assert signed_in(client) and signed_in(laptop)
    take_away(session, rita, admin)
    session.commit()
    assert not signed_in(client) and not signed_in(laptop)
    reasons = {row.ended_reason for row in rows(session)}
    event = session.exec(
        select(AccountEvent).where(AccountEvent.user_id == rita.id).order_by(AccountEvent.id.desc())
    ).first()
    assert reasons == {event.type} and event.detail["sessions_ended"] == 2


def test_a_deactivated_account_is_refused_even_with_an_open_session_row(client, rita, session):
    login(client, "rita@example.org")
    rita.active = False  # not through the service: the loader checks the account too
    session.add(rita)
    session.commit()
    assert not signed_in(client)


def test_an_idle_session_ends(client, rita, session):
    with time_machine.travel(T0, tick=False) as clock:
        login(client, "rita@example.org")
        for _ in range(3):
            clock.shift(timedelta(minutes=59))
            assert signed_in(client), "each visit keeps the session alive"
        clock.shift(timedelta(minutes=60))
        assert not signed_in(client)


def test_a_session_ends_after_its_lifetime_however_active(app, client, rita):
    # The cookie's own signature would expire too; give it longer, so the server is what refuses.
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=31)
    with time_machine.travel(T0, tick=False) as clock:
        login(client, "rita@example.org")
        for _ in range(14):
            clock.shift(timedelta(minutes=50))
            assert signed_in(client)
        clock.shift(timedelta(minutes=20))  # 12 h 00 after sign-in
        assert not signed_in(client)


def test_the_signed_cookie_expires_with_the_session_lifetime(app):
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=12)


def test_the_last_visit_is_written_at_most_once_a_minute(client, rita, session):
    with time_machine.travel(T0, tick=False) as clock:
        login(client, "rita@example.org")
        clock.shift(30)
        assert signed_in(client)
        assert rows(session)[0].last_seen_at == T0
        clock.shift(40)
        assert signed_in(client)
        assert rows(session)[0].last_seen_at == T0 + timedelta(seconds=70)
        clock.shift(10)
        assert signed_in(client)
        assert rows(session)[0].last_seen_at == T0 + timedelta(seconds=70)


def test_resume_session_checks_every_limit(session, rita):
    token = start_session(session, user=rita, now=T0)
    session.commit()
    limits = {"lifetime": timedelta(hours=12), "idle": timedelta(hours=1)}

    def resumed(at, user_id=rita.id):
        return resume_session(session, token=token, user_id=user_id, now=at, **limits)

    assert resumed(T0 + timedelta(seconds=30)).stale is False
    assert resumed(T0 + timedelta(minutes=59)).stale is True
    assert resumed(T0 + timedelta(hours=1)) is None
    assert resumed(T0, user_id=rita.id + 1) is None
    assert resume_session(session, token="forged", user_id=rita.id, now=T0, **limits) is None


def test_signing_in_records_and_signing_out_ends_only_that_session(app, client, rita, session):
    login(client, "rita@example.org")
    phone = app.test_client()
    login(phone, "rita@example.org")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert not signed_in(client) and signed_in(phone)
    assert sorted(str(row.ended_reason) for row in rows(session)) == ["None", "logged_out"]


def test_old_attempts_and_sessions_are_pruned(client, rita, session, app):
    from cases.jobs.registry import run_periodic
    from cases.models import LoginAttempt

    with time_machine.travel(T0, tick=False) as clock:
        login(client, "rita@example.org", "a wrong password")
        login(client, "rita@example.org")
        clock.shift(timedelta(hours=11))
        login(client, "rita@example.org")
        with app.app_context():
            run_periodic("prune_sign_in_records")
        assert len(fresh(session).exec(select(LoginAttempt)).all()) == 1, "the window's only"
        assert len(rows(session)) == 2
        clock.shift(timedelta(hours=1, seconds=1))
        with app.app_context():
            run_periodic("prune_sign_in_records")
        (kept,) = rows(session)
        assert kept.created_at == T0 + timedelta(hours=11), "the first outlived its lifetime"


def test_signing_in_again_ends_the_browsers_previous_session(app, client, rita, session):
    login(client, "rita@example.org")
    thief = copy_of(app, client)
    login(client, "rita@example.org")
    assert signed_in(client) and not signed_in(thief)
    assert sorted(str(row.ended_reason) for row in rows(session)) == ["None", "replaced"]
