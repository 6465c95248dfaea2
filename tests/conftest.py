"""Fixtures: an isolated, migrated database per test — a copied SQLite file, or on PostgreSQL
(`DATABASE_URL` set, as `make test` does for its second run) the run's database emptied."""

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from app import create_app
from cases.core import migrate, security
from cases.core.db import make_engine, reading

# Shared fixtures: the case workspace (cases, staff, sign-in), a real local SMTP server, and a real
# S3 server (SeaweedFS, started only when a test asks for it).
pytest_plugins = ["tests.casework", "tests.mailbox", "tests.object_store"]

POSTGRES_URL = os.environ.get("DATABASE_URL")
SHARED = Path(__file__).resolve().parents[2] / "shared"


# Cheap hashes keep account-heavy tests fast; the production cost is Werkzeug's default.
security.PASSWORD_METHOD = "scrypt:1024:8:1"


def pytest_report_header(config):
    return f"database: {'PostgreSQL ' + POSTGRES_URL if POSTGRES_URL else 'SQLite (file per test)'}"


def pytest_collection_modifyitems(config, items):
    if POSTGRES_URL:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (runs in the PostgreSQL pass of make test)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory) -> str:
    """Migrate once per run; tests then get a copy (SQLite) or an emptied database (PostgreSQL)."""
    if POSTGRES_URL:
        engine = make_engine(POSTGRES_URL)
        migrate.upgrade(engine)
        engine.dispose()
        return POSTGRES_URL
    path = tmp_path_factory.mktemp("template") / "docket.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file we copy
    return str(path)


def _empty_postgres(url: str) -> None:
    engine = make_engine(url)
    tables = [t.name for t in SQLModel.metadata.sorted_tables]
    with engine.begin() as connection:
        # Replica mode skips the append-only triggers, which would (rightly) refuse TRUNCATE.
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        connection.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        connection.execute(text("INSERT INTO log_head (id, size, border) VALUES (1, 0, '[]')"))
    engine.dispose()


@pytest.fixture
def database_url(migrated_database, tmp_path) -> str:
    if POSTGRES_URL:
        _empty_postgres(POSTGRES_URL)
        return POSTGRES_URL
    path = tmp_path / "docket.db"
    shutil.copy(migrated_database, path)
    return f"sqlite:///{path}"


@pytest.fixture
def config_overrides() -> dict:
    """Override in a test module to change the app's configuration."""
    return {}


@pytest.fixture
def app(database_url, tmp_path, config_overrides):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "test-secret-key",
            "RATELIMIT_ENABLED": False,
            "REDIS_URL": None,
            **config_overrides,
        }
    )
    yield app
    app.extensions["docket.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    """A session for arranging data and asserting on it; tests commit explicitly. On SQLite it
    begins deferred, so a test reading between requests never holds the app's write lock."""
    engine = reading(app.extensions["docket.db"])
    with app.app_context(), Session(engine, expire_on_commit=False) as s:
        yield s
