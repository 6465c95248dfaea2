from sqlmodel import select

from cases.models import ApiKey, User


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
