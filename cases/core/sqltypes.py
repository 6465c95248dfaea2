"""Column types, clocks and session helpers shared by every table module (no Flask, so the trail
can use them)."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

_SET_CLOCK: ContextVar[datetime | None] = ContextVar("docket_clock", default=None)


def utcnow() -> datetime:
    """The time every service, row default and trail event reads (see `clock_at`)."""
    return _SET_CLOCK.get() or datetime.now(UTC)


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    """Make `utcnow` answer `moment` in this context: how the demo records months of history
    with every timestamp (rows, SLAs, trail headers) as consistent as if it had happened then."""
    token = _SET_CLOCK.set(moment)
    try:
        yield
    finally:
        _SET_CLOCK.reset(token)


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes on both engines (SQLite drops the zone; we put it back)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def expire_cached(session: Session, model: type, id: int) -> None:
    """Expire the session's ORM copy of a row just changed by a Core statement, if it has one."""
    cached = session.identity_map.get(identity_key(model, id))
    if cached is not None:
        session.expire(cached)


_NEXTVAL = sa.text(
    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"
)


def reserve_ids(session: Session, table: sa.Table, count: int) -> list[int]:
    """`count` new primary keys for `table`, in increasing order, taken before the rows are
    written: the rows then go in one prepared multi-row insert, with no RETURNING to read back.

    PostgreSQL draws them from the column's sequence; SQLite counts on from the largest, which
    is safe because a writing transaction holds the database lock from BEGIN IMMEDIATE.
    """
    if session.bind.dialect.name == "postgresql":
        return sorted(session.execute(_NEXTVAL, {"table": table.name, "count": count}).scalars())
    last = session.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
    return list(range(last + 1, last + count + 1))
