"""Engine and per-request session.

The request (or CLI command, or job) owns the transaction: services receive the session and never
commit. On SQLite a writing transaction starts with BEGIN IMMEDIATE, so two appenders queue on the
database lock (busy timeout) instead of failing when a read lock is upgraded; safe-method requests
(GET, HEAD) read with a deferred BEGIN and so never hold the write lock. PostgreSQL runs READ
COMMITTED and locks rows explicitly.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

EXTENSION = "docket.db"


def sqlite_url(instance_path: str) -> str:
    return "sqlite:///" + os.path.join(instance_path, "docket.db")


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine with the transaction semantics the trail relies on."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, echo=echo, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(url, echo=echo, isolation_level="READ COMMITTED", pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Take transaction control from pysqlite so BEGIN IMMEDIATE below is what runs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Erasure must leave no copy of an erased value in the file: with secure_delete, the
        # space a change or a deletion frees (cells, pages, the full-text index's old segments)
        # is zeroed, not left as it was for reuse (cases.retention.traces).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def reading(engine: Engine) -> Engine:
    """The same engine for transactions that only read (a deferred BEGIN on SQLite)."""
    return engine.execution_options(sqlite_begin="DEFERRED")


def snapshot(engine: Engine) -> Engine:
    """The same engine for a long read that must see one state throughout (verifying the whole
    trail while appends go on): REPEATABLE READ on PostgreSQL; on SQLite a deferred transaction
    already reads one snapshot, and takes no write lock."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ")
    return reading(engine)


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"], echo=app.config.get("SQLALCHEMY_ECHO", False))
    app.extensions[EXTENSION] = engine
    # Per request too: an app context can outlive its requests (tests push one around several),
    # and a request's transaction must never carry over into the next request.
    app.teardown_request(_close_session)
    app.teardown_appcontext(_close_session)
    # A forked RQ work-horse must not reuse its parent's pooled connections.
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))


def get_engine() -> Engine:
    return current_app.extensions[EXTENSION]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session() -> Session:
    """The request's session, opened on first use and closed (rolled back if open) at teardown."""
    if "db_session" not in g:
        engine = get_engine()
        if has_request_context() and request.method in SAFE_METHODS:
            engine = reading(engine)
        g.db_session = Session(engine, expire_on_commit=False)
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session for a job or CLI command: commits nothing by itself, rolls back on error."""
    session = Session(engine or get_engine(), expire_on_commit=False)
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
