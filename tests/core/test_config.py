import pytest

from app import create_app


@pytest.fixture
def instance(tmp_path):
    path = tmp_path / "instance"
    path.mkdir()
    return path


def make(instance, **overrides):
    return create_app({"INSTANCE_PATH": str(instance), **overrides} if overrides else None)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, instance):
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "FLASK_LOGIN_FAILURES_BEFORE_BLOCK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKET_INSTANCE_PATH", str(instance))


def test_defaults_use_sqlite_in_instance_and_generate_a_secret(instance):
    app = create_app()
    assert app.config["DATABASE_URL"] == f"sqlite:///{instance}/docket.db"
    assert app.config["LOGIN_FAILURES_BEFORE_BLOCK"] == 10
    secret = (instance / "secret_key").read_text()
    assert len(secret) == 64 and app.config["SECRET_KEY"] == secret
    assert (instance / "secret_key").stat().st_mode & 0o077 == 0
    assert create_app().config["SECRET_KEY"] == secret, "the secret must persist across starts"


def test_instance_file_overrides_defaults_and_environment_overrides_instance(instance, monkeypatch):
    (instance / "config.py").write_text(
        "LOGIN_FAILURES_BEFORE_BLOCK = 7\nLOGIN_THROTTLE_SECONDS = 3\n"
    )
    assert create_app().config["LOGIN_FAILURES_BEFORE_BLOCK"] == 7
    monkeypatch.setenv("FLASK_LOGIN_FAILURES_BEFORE_BLOCK", "9")
    app = create_app()
    assert app.config["LOGIN_FAILURES_BEFORE_BLOCK"] == 9
    assert app.config["LOGIN_THROTTLE_SECONDS"] == 3


def test_test_overrides_win_over_environment(instance, monkeypatch):
    monkeypatch.setenv("FLASK_LOGIN_FAILURES_BEFORE_BLOCK", "9")
    app = create_app({"INSTANCE_PATH": str(instance), "LOGIN_FAILURES_BEFORE_BLOCK": 2})
    assert app.config["LOGIN_FAILURES_BEFORE_BLOCK"] == 2


def test_database_url_and_secret_from_plain_environment(instance, monkeypatch):
    (instance / "config.py").write_text("DATABASE_URL = 'sqlite:////nowhere/else.db'\n")
    monkeypatch.setenv("DATABASE_URL", "postgresql://docket@db.internal/docket")
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    app = create_app()
    assert app.config["DATABASE_URL"] == "postgresql://docket@db.internal/docket"
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert not (instance / "secret_key").exists()
    engine = app.extensions["docket.db"]
    assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(app):
    engine = app.extensions["docket.db"]
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA foreign_keys").scalar() == 1
        assert pragma("PRAGMA busy_timeout").scalar() == 30000
