from datetime import UTC, datetime

import pytest
import time_machine
from sqlmodel import select

from cases.models import AccountEvent, ApiKey, User
from tests.factories import PASSWORD, make_user
from tests.helpers import count, fresh, login, reloaded


def test_users_create_with_password(runner, session):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "Lee@Example.org",
            "--role",
            "lead",
            "--password",
            "a long password",
        ]
    )
    assert result.exit_code == 0, result.output
    user = session.exec(select(User).where(User.email == "lee@example.org")).one()
    assert user.role == "lead" and user.password_hash.startswith("scrypt:")


def test_users_create_prompts_for_the_password(runner, session):
    result = runner.invoke(
        args=["users", "create", "pat@example.org", "--role", "auditor"],
        input="prompted password\nprompted password\n",
    )
    assert result.exit_code == 0, result.output
    assert session.exec(select(User).where(User.email == "pat@example.org")).one()


def test_users_create_refuses_bad_input(runner):
    assert (
        runner.invoke(
            args=[
                "users",
                "create",
                "x@example.org",
                "--role",
                "root",
                "--password",
                "a long password",
            ]
        ).exit_code
        == 2
    )
    result = runner.invoke(
        args=["users", "create", "not-an-email", "--role", "lead", "--password", "a long password"]
    )
    assert result.exit_code == 2 and "email" in result.output
    result = runner.invoke(
        args=["users", "create", "y@example.org", "--role", "lead", "--password", "short"]
    )
    assert result.exit_code == 2 and "at least 10 characters" in result.output


def test_api_key_printed_once_on_the_last_line_authenticates(runner, client, session):
    result = runner.invoke(args=["api-keys", "create", "moderation-pipeline"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("dk_") and " " not in key
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.get_json()["name"] == "moderation-pipeline"
    assert key not in str(session.exec(select(ApiKey)).one().model_dump())
    assert runner.invoke(args=["api-keys", "create", "moderation-pipeline"]).exit_code == 2


def test_demo_twice_creates_each_user_once(runner, session):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "docket-demo-password" in first.output
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0 and "already there" in second.output
    roles = sorted(u.role for u in session.exec(select(User)))
    assert roles == ["admin", "auditor", "child_safety", "lead", "reviewer"]


# --- taking access away -------------------------------------------------------------------------


@pytest.fixture
def rita(session):
    user = make_user(session, role="reviewer", email="rita@example.org")
    session.commit()
    return user


def last_event(session, *types: str) -> AccountEvent:
    query = select(AccountEvent).order_by(AccountEvent.id.desc())
    if types:
        query = query.where(AccountEvent.type.in_(types))
    return fresh(session).exec(query).first()


def test_users_deactivate_ends_sessions_at_once(runner, client, session, rita):
    login(client, "rita@example.org")
    assert client.get("/queues").status_code == 200
    result = runner.invoke(args=["users", "deactivate", "Rita@Example.org"])
    assert result.exit_code == 0 and "deactivated rita@example.org" in result.output
    assert client.get("/queues").status_code == 302
    assert login(client, "rita@example.org").status_code == 401
    event = last_event(session, "deactivated")
    assert (event.type, event.user_id, event.actor_id) == ("deactivated", rita.id, None)
    assert event.detail == {"sessions_ended": 1, "via": "cli"}
    again = runner.invoke(args=["users", "deactivate", "rita@example.org"])
    assert again.exit_code == 0 and "already inactive" in again.output
    assert last_event(session, "deactivated").id == event.id, "no change, no event"


def test_users_reactivate(runner, client, session, rita):
    runner.invoke(args=["users", "deactivate", "rita@example.org"])
    result = runner.invoke(args=["users", "reactivate", "rita@example.org"])
    assert result.exit_code == 0 and "reactivated" in result.output
    assert login(client, "rita@example.org").status_code == 302
    event = last_event(session, "reactivated")
    assert event.user_id == rita.id and event.detail == {"via": "cli"}


@pytest.mark.parametrize(
    "command",
    [
        ["users", "deactivate", "nobody@example.org"],
        ["users", "reactivate", "nobody@example.org"],
        ["users", "set-password", "nobody@example.org", "--password-stdin"],
        ["api-keys", "revoke", "no-such-key"],
    ],
)
def test_unknown_email_or_key_name_exits_1(runner, session, command):
    result = runner.invoke(args=command, input="a long enough password\n")
    assert result.exit_code == 1
    assert "no staff account" in result.output or "no API key named" in result.output
    assert count(fresh(session), AccountEvent) == 0


def test_users_set_password_prompts_twice_and_ends_sessions(runner, client, session, rita):
    login(client, "rita@example.org")
    result = runner.invoke(
        args=["users", "set-password", "rita@example.org"],
        input="a new long password\na new long password\n",
    )
    assert result.exit_code == 0, result.output
    assert "a new long password" not in result.output
    assert client.get("/queues").status_code == 302
    assert login(client, "rita@example.org", PASSWORD).status_code == 401
    assert login(client, "rita@example.org", "a new long password").status_code == 302
    event = (
        fresh(session)
        .exec(select(AccountEvent).where(AccountEvent.type == "password_changed"))
        .one()
    )
    assert event.detail == {"sessions_ended": 1, "via": "cli"}


def test_users_set_password_refuses_a_mismatch(runner, session, rita):
    result = runner.invoke(
        args=["users", "set-password", "rita@example.org"],
        input="a new long password\nanother long password\n",
    )
    assert result.exit_code != 0 and "do not match" in result.output
    assert reloaded(session, rita).password_hash == rita.password_hash


def test_users_set_password_from_stdin(runner, client, rita):
    result = runner.invoke(
        args=["users", "set-password", "rita@example.org", "--password-stdin"],
        input="piped in password\n",
    )
    assert result.exit_code == 0, result.output
    assert login(client, "rita@example.org", "piped in password").status_code == 302


@pytest.mark.parametrize("password", ["short", "x" * 1025])
def test_users_set_password_refuses_bad_passwords(runner, session, rita, password):
    result = runner.invoke(
        args=["users", "set-password", "rita@example.org", "--password-stdin"],
        input=password + "\n",
    )
    assert result.exit_code == 2 and "password must be" in result.output
    assert reloaded(session, rita).password_hash == rita.password_hash
    assert count(fresh(session), AccountEvent) == 1  # only its creation


def test_api_keys_list_shows_every_key(runner, session):
    assert runner.invoke(args=["api-keys", "list"]).output.strip() == "No API keys."
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False):
        runner.invoke(args=["api-keys", "create", "moderation-pipeline"])
        runner.invoke(args=["api-keys", "create", "crm", "--scope", "cases:read"])
        runner.invoke(args=["api-keys", "revoke", "crm"])
    lines = runner.invoke(args=["api-keys", "list"]).output.splitlines()
    assert lines[0].split() == ["NAME", "SCOPES", "CREATED", "LAST", "USED", "REVOKED"]
    assert lines[1].split() == [
        "crm",
        "cases:read",
        "2026-03-02",
        "09:00",
        "-",
        "2026-03-02",
        "09:00",
    ]
    scopes = "appeals:write,cases:read,cases:write,detections:write"
    assert lines[2].split() == ["moderation-pipeline", scopes, "2026-03-02", "09:00", "-", "-"]
    assert "dk_" not in "\n".join(lines)


def test_api_keys_revoke_refuses_the_key_at_once(runner, client, session):
    key = runner.invoke(args=["api-keys", "create", "moderation-pipeline"]).output.split()[-1]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    result = runner.invoke(args=["api-keys", "revoke", "moderation-pipeline"])
    assert result.exit_code == 0 and "is revoked" in result.output
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    event = last_event(session)
    assert event.type == "api_key_revoked" and event.detail["via"] == "cli"
    again = runner.invoke(args=["api-keys", "revoke", "moderation-pipeline"])
    assert again.exit_code == 0 and "already revoked" in again.output
    assert last_event(session).id == event.id
