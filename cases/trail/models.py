"""Trail tables. Rows are insert-only (database triggers reject UPDATE and DELETE), except:
`log_head`, the one mutable row that serialises appends, and `event_payload`, whose rows may be
deleted by erasure (the commitment in the header stays, so the chain still verifies)."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cases.core.sqltypes import UTCDateTime, utcnow


class CaseEvent(SQLModel, table=True):
    """One link of a case's hash chain; `header` holds the exact canonical bytes hashed."""

    __tablename__ = "case_event"
    # No index on case_id or type alone: UNIQUE(case_id, seq) serves every lookup by case (and by
    # case and type), and each index is written on every append.
    __table_args__ = (
        sa.UniqueConstraint("case_id", "seq"),
        sa.UniqueConstraint("case_id", "prev_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id")
    seq: int
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64, unique=True)
    type: str = Field(max_length=40)
    actor: str = Field(max_length=120)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)
    header: str = Field(sa_type=sa.Text)
    log_index: int | None = Field(default=None, unique=True)


class EventPayload(SQLModel, table=True):
    """The personal part of an event, kept apart so erasure can drop it and keep the commitment."""

    __tablename__ = "event_payload"

    event_id: int = Field(foreign_key="case_event.id", primary_key=True)
    payload: str = Field(sa_type=sa.Text)
    salt: str = Field(max_length=64)


class LogLeaf(SQLModel, table=True):
    """Leaf `index` of the global RFC 6962 log: case tag ‖ entry hash (64 bytes)."""

    __tablename__ = "log_leaf"

    index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    data: bytes = Field(sa_type=sa.LargeBinary)


class LogNode(SQLModel, table=True):
    """Hash of the perfect subtree covering leaves [index·2^level, (index+1)·2^level)."""

    __tablename__ = "log_node"

    level: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    hash: bytes = Field(sa_type=sa.LargeBinary)


class LogHead(SQLModel, table=True):
    """The single row every append locks: the log size and its compact range (right border)."""

    __tablename__ = "log_head"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    size: int = Field(default=0)
    border: list = Field(default_factory=list, sa_type=sa.JSON, nullable=False)


class Checkpoint(SQLModel, table=True):
    """A signed C2SP tlog-checkpoint note over the log at `size`."""

    __tablename__ = "checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    size: int = Field(index=True)
    root: str = Field(max_length=64)
    note: str = Field(sa_type=sa.Text)
    signed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)


class Blob(SQLModel, table=True):
    """An evidence file, stored content-addressed; the hashes are computed by us while streaming."""

    __tablename__ = "blob"

    sha256: str = Field(primary_key=True, max_length=64)
    md5: str = Field(max_length=32)
    sha1: str = Field(max_length=40)
    size: int
    media_type: str = Field(max_length=120)
    restricted: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)


# Tables whose rows are never updated or deleted (event payloads may be deleted: erasure). The
# migrations' triggers enforce it; tests/trail/test_triggers.py holds them to this list.
TRAIL_INSERT_ONLY = ("case_event", "log_leaf", "log_node", "checkpoint", "blob")
