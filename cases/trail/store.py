"""Appending to the trail, integrating it into the log, and reading proofs (no Flask).

Appending (`append_events`) takes only the case's own lock, extends the case's hash chain and
stores the event *pending*, with no log index: appends to different cases never wait on each
other. On PostgreSQL (READ COMMITTED) the lock is `SELECT … FOR UPDATE` on the case rows, taken
before the chain heads are read, so the head read is the committed one; on SQLite the writing
transaction began with BEGIN IMMEDIATE and already holds the database's write lock.
UNIQUE(case_id, seq) and UNIQUE(case_id, prev_hash) are the backstop.

Integrating (`integrate_log`, as Trillian's and Tessera's integrators do) takes the single
log-head lock, gives the committed pending events the next log indexes in id order, stores their
leaves and the perfect subtrees they complete, and moves the head: a whole batch per lock, O(log n)
per event whatever the log's size. A leaf's bytes do not depend on its index, so nothing hashed
changes when an event is integrated; the one write to an event row is its log index, from NULL to
a value, once (the only UPDATE the trail's triggers let through). Event ids are drawn after the
case lock, so a case's events are integrated in chain order.
"""

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session, select

from cases.core.sqltypes import expire_cached, reserve_ids, utcnow
from cases.enums import EventType
from cases.trail import merkle
from cases.trail.canonical import canonical, utc_timestamp
from cases.trail.events import (
    GENESIS,
    EventRecord,
    build_header,
    case_tag,
    entry_hash,
    new_salt,
    payload_commitment,
)
from cases.trail.models import CaseEvent, EventPayload, LogHead, LogLeaf, LogNode


class CaseLike(Protocol):
    id: int | None
    reference: str


@dataclass(frozen=True)
class StoredEvent:
    """An appended event as written (the row itself is insert-only, so this copy stays true)."""

    id: int
    case_id: int
    seq: int
    prev_hash: str
    entry_hash: str
    type: EventType
    actor: str
    at: datetime
    header: str
    log_index: int | None  # None until integrated


@dataclass(frozen=True)
class NewEvent:
    """One event to append: what happened to which case, who did it, and its evidence."""

    case: CaseLike
    type: EventType
    actor: str
    payload: dict[str, Any] = field(default_factory=dict)
    blobs: Sequence[str] = ()


def append_event(
    session: Session,
    *,
    case: CaseLike,
    type: EventType,
    actor: str,
    payload: dict[str, Any] | None = None,
    blobs: Sequence[str] = (),
) -> StoredEvent:
    """Append one event to `case`'s chain, pending integration, in the caller's transaction."""
    event = NewEvent(case=case, type=type, actor=actor, payload=payload or {}, blobs=blobs)
    return append_events(session, [event])[0]


# Prebuilt statements: building a SQLAlchemy expression costs more than running it, and these
# run on every append.
_EVENTS = CaseEvent.__table__
_LATER = _EVENTS.alias("later")
_HEAD = LogHead.__table__
_CASES = sa.table("case_file", sa.column("id"), sa.column("reference"))
_LOCK_HEAD = sa.select(_HEAD.c.size, _HEAD.c.border).where(_HEAD.c.id == 1).with_for_update()
_LOCK_HEAD_OR_SKIP = _LOCK_HEAD.with_for_update(skip_locked=True)
_LOCK_CASES = (
    sa.select(_CASES.c.id)
    .where(_CASES.c.id.in_(sa.bindparam("case_ids", expanding=True)))
    .order_by(_CASES.c.id)
    .with_for_update()
)
_UPDATE_HEAD = _HEAD.update().where(_HEAD.c.id == 1)
_CASE_HEADS = sa.select(_EVENTS.c.case_id, _EVENTS.c.seq, _EVENTS.c.entry_hash).where(
    _EVENTS.c.case_id.in_(sa.bindparam("case_ids", expanding=True)),
    _EVENTS.c.seq
    == sa.select(sa.func.max(_LATER.c.seq))
    .where(_LATER.c.case_id == _EVENTS.c.case_id)
    .scalar_subquery(),
)
_INSERT_EVENTS = _EVENTS.insert()
_INSERT_PAYLOADS = EventPayload.__table__.insert()
_INSERT_LEAVES = LogLeaf.__table__.insert()
_INSERT_NODES = LogNode.__table__.insert()
_PENDING = (
    sa.select(_EVENTS.c.id, _EVENTS.c.entry_hash, _CASES.c.reference)
    .join(_CASES, _CASES.c.id == _EVENTS.c.case_id)
    .where(_EVENTS.c.log_index.is_(None))
    .order_by(_EVENTS.c.id)
)
_PENDING_SUMMARY = sa.select(sa.func.count(), sa.func.min(_EVENTS.c.at)).where(
    _EVENTS.c.log_index.is_(None)
)
_SET_LOG_INDEX = (
    _EVENTS.update()
    .where(_EVENTS.c.id == sa.bindparam("event"))
    .values(log_index=sa.bindparam("index"))
)
# Set on a session that appended, for whoever integrates after its commit.
APPENDED = "docket.trail.appended"


def append_events(
    session: Session, events: Sequence[NewEvent], *, at: datetime | None = None
) -> list[StoredEvent]:
    """Append several events, pending integration, under their cases' locks (one statement per
    table); `integrate_log` gives them log indexes after commit."""
    if not events:
        return []
    at = at or utcnow()
    timestamp = utc_timestamp(at)
    # Everything that does not depend on the chains' state is done before taking the locks.
    sealed = [_seal(event.payload) for event in events]
    session.flush()  # cases created in this transaction need their ids
    heads = _lock_case_heads(session, {event.case.id for event in events})
    ids = reserve_ids(session, _EVENTS, len(events))
    stored: list[StoredEvent] = []
    for event, id, (_, _, commitment) in zip(events, ids, sealed, strict=True):
        case, event_type = event.case, EventType(event.type)
        seq, prev = heads.get(case.id, (0, GENESIS))
        header = build_header(
            case_ref=case.reference,
            seq=seq + 1,
            prev=prev,
            type=event_type.value,
            actor=event.actor,
            at=timestamp,
            payload_commit=commitment,
            blobs=event.blobs,
        )
        digest = entry_hash(header)
        stored.append(
            StoredEvent(
                id=id,
                case_id=case.id,
                seq=seq + 1,
                prev_hash=prev.hex(),
                entry_hash=digest.hex(),
                type=event_type,
                actor=event.actor,
                at=at,
                header=header.decode("utf-8"),
                log_index=None,
            )
        )
        heads[case.id] = (seq + 1, digest)
    session.execute(_INSERT_EVENTS, [vars(row) for row in stored])
    session.execute(
        _INSERT_PAYLOADS,
        [
            {"event_id": row.id, "payload": payload.decode("utf-8"), "salt": salt.hex()}
            for row, (payload, salt, _) in zip(stored, sealed, strict=True)
        ],
    )
    session.info[APPENDED] = True
    return stored


def integrate_log(session: Session, *, limit: int | None = None, wait: bool = True) -> int:
    """Give the committed pending events (and this transaction's own) the next log indexes,
    at most `limit` of them, under the log-head lock; returns how many were integrated.

    With `wait=False` an integrator already at work is left to it (PostgreSQL: SKIP LOCKED) and
    0 is returned: what it misses, the next run takes.
    """
    head = session.execute(_LOCK_HEAD if wait else _LOCK_HEAD_OR_SKIP).one_or_none()
    if head is None:
        return 0
    size, border = head.size, [bytes.fromhex(h) for h in head.border]
    pending = session.execute(_PENDING if limit is None else _PENDING.limit(limit)).all()
    if not pending:
        return 0
    leaves: list[dict] = []
    nodes: list[dict] = []
    indexes: list[dict] = []
    tags: dict[str, bytes] = {}
    for event_id, entry, reference in pending:
        if (tag := tags.get(reference)) is None:
            tag = tags[reference] = case_tag(reference)  # hashed once per case in a batch
        data = tag + bytes.fromhex(entry)
        leaves.append({"index": size, "data": data})
        indexes.append({"event": event_id, "index": size})
        border, created = merkle.append_leaf(border, size, merkle.leaf_hash(data))
        # Level 0 is the leaf hash, derived from log_leaf.
        nodes.extend({"level": lv, "index": i, "hash": h} for lv, i, h in created if lv > 0)
        size += 1
    session.execute(_INSERT_LEAVES, leaves)
    if nodes:
        session.execute(_INSERT_NODES, nodes)
    session.execute(_SET_LOG_INDEX, indexes)
    session.execute(_UPDATE_HEAD, {"size": size, "border": [h.hex() for h in border]})
    # ORM copies read earlier in this transaction are now out of date.
    expire_cached(session, LogHead, 1)
    for row in indexes:
        expire_cached(session, CaseEvent, row["event"])
    return len(pending)


def pending_events(session: Session) -> tuple[int, datetime | None]:
    """How many events await integration, and when the oldest of them was appended."""
    count, oldest = session.execute(_PENDING_SUMMARY).one()
    return count, oldest


def _seal(payload: dict[str, Any]) -> tuple[bytes, bytes, bytes]:
    """The payload's canonical bytes, a fresh salt, and the commitment the header carries."""
    payload_bytes = canonical(payload)
    salt = new_salt()
    return payload_bytes, salt, payload_commitment(salt, payload_bytes)


def _lock_case_heads(session: Session, case_ids: set[int]) -> dict[int, tuple[int, bytes]]:
    """Lock the cases (in id order, so two appenders never deadlock), then read the (seq, entry
    hash) of each one's last event: read after the lock, it is the committed head."""
    if session.bind.dialect.name != "sqlite":  # SQLite's writer already holds the database
        session.execute(_LOCK_CASES, {"case_ids": sorted(case_ids)})
    rows = session.execute(_CASE_HEADS, {"case_ids": list(case_ids)})
    return {case_id: (seq, bytes.fromhex(entry)) for case_id, seq, entry in rows}


def log_size(session: Session) -> int:
    return session.exec(select(LogHead.size).where(LogHead.id == 1)).one()


def current_root(session: Session) -> tuple[int, bytes]:
    """(size, root) of the log as committed, from the stored right border: no tree walk."""
    size, border = session.exec(select(LogHead.size, LogHead.border).where(LogHead.id == 1)).one()
    return size, merkle.root_from_border([bytes.fromhex(h) for h in border])


class NodeStore:
    """Stored perfect-subtree hashes, fetched in one query per proof.

    The merkle module walks the tree through a `node(level, index)` callback. The walk's shape
    depends only on sizes and indexes, never on hash values, so a first dry walk collects the
    keys, one query fetches them all, and the second walk computes the result.
    """

    def __init__(self, session: Session):
        self.session = session

    def compute(self, walk: Callable[[Callable[[int, int], bytes]], Any]) -> Any:
        keys: list[tuple[int, int]] = []
        walk(lambda level, index: keys.append((level, index)) or bytes(32))
        hashes = self._fetch(keys)
        return walk(lambda level, index: hashes[(level, index)])

    def _fetch(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        keys = set(keys)
        leaves = sorted(index for level, index in keys if level == 0)
        nodes = sorted((level, index) for level, index in keys if level > 0)
        params = {f"leaf{i}": index for i, index in enumerate(leaves)}
        for i, (level, index) in enumerate(nodes):
            params[f"level{i}"], params[f"index{i}"] = level, index
        found: dict[tuple[int, int], bytes] = {}
        if keys:
            rows = self.session.connection().execute(_fetch_sql(len(leaves), len(nodes)), params)
            for level, index, digest in rows:
                found[(level, index)] = merkle.leaf_hash(digest) if level == 0 else digest
        missing = keys - found.keys()
        if missing:
            raise LookupError(f"log nodes missing from the store: {sorted(missing)[:5]}")
        return found


@functools.lru_cache(maxsize=1024)
def _fetch_sql(leaves: int, nodes: int) -> sa.TextClause:
    """One round trip for a proof's leaves and stored subtrees, as plain SQL cached per shape.

    Built by hand because this is the hot path of every proof and checkpoint: composing the
    equivalent SQLAlchemy expression cost several times the query. Each node is matched by
    `level = ? AND index = ?` (both engines then probe the primary key once per node): SQLite
    answers the row-value form, (level, index) IN (…), by scanning the whole table.
    """
    parts = []
    if leaves:
        marks = ", ".join(f":leaf{i}" for i in range(leaves))
        parts.append(f'SELECT 0 AS level, "index", data FROM log_leaf WHERE "index" IN ({marks})')
    if nodes:
        pairs = " OR ".join(f'(level = :level{i} AND "index" = :index{i})' for i in range(nodes))
        parts.append(f'SELECT level, "index", hash FROM log_node WHERE {pairs}')
    return sa.text(" UNION ALL ".join(parts))


def inclusion_proof(session: Session, *, index: int, size: int) -> list[bytes]:
    """RFC 6962 inclusion proof of leaf `index` in the tree of `size` leaves."""
    _check_size(session, size)
    return NodeStore(session).compute(lambda node: merkle.inclusion_proof(index, size, node))


def consistency_proof(session: Session, *, size1: int, size2: int) -> list[bytes]:
    """RFC 6962 consistency proof between the trees of `size1` and `size2` leaves."""
    _check_size(session, size2)
    return NodeStore(session).compute(lambda node: merkle.consistency_proof(size1, size2, node))


def root_at(session: Session, *, size: int) -> bytes:
    """Root of the first `size` leaves, from stored subtrees (O(log n) of them)."""
    _check_size(session, size)
    return NodeStore(session).compute(lambda node: merkle.root_at(size, node))


def _check_size(session: Session, size: int) -> None:
    current = log_size(session)
    if size > current:
        raise ValueError(f"the log has {current} leaves, not {size}")


def case_records(session: Session, *, case_id: int) -> list[EventRecord]:
    """A case's events as the verifier sees them: exact header bytes, payload unless erased."""
    rows = session.exec(
        select(CaseEvent, EventPayload)
        .join(EventPayload, EventPayload.event_id == CaseEvent.id, isouter=True)
        .where(CaseEvent.case_id == case_id)
        .order_by(CaseEvent.seq)
    )
    return [to_record(event, payload) for event, payload in rows]


def to_record(event: CaseEvent, payload: EventPayload | None) -> EventRecord:
    return EventRecord(
        seq=event.seq,
        header=event.header.encode("utf-8"),
        entry_hash=bytes.fromhex(event.entry_hash),
        prev_hash=bytes.fromhex(event.prev_hash),
        payload=payload.payload.encode("utf-8") if payload else None,
        salt=bytes.fromhex(payload.salt) if payload else None,
        log_index=event.log_index,
    )
