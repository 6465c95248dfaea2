"""Re-checking the trail in the database (no Flask): `flask --app app trail verify`.

The work is cut into tasks over ranges of the log, read with plain SQL in index order. A log
task recomputes every stored subtree hash its leaves complete and the root at each checkpoint
among them, starting from the stored subtrees to its left (which the tasks before it check). An
event task checks the events at its log indexes with `check_stored_events`, which leaves a
segment of each chain; segments are joined up across tasks, and any chain that fast check did
not accept outright is read again in seq order and judged by `verify_chain`, the check the
offline bundle verifier uses, which names the failure. Log failures come first, in log order,
then chains in case order: however the work is cut, the failure reported is the one a single
pass would report.

A large trail on a SQLite file or on PostgreSQL is verified by one process per CPU (spawned ones
take a second to start: hence PARALLEL_FROM), each task on a connection of its own, all reading
one snapshot: on PostgreSQL the caller's, exported; on SQLite, where readers cannot share one,
the tasks must find the log head the caller found, or the whole pass is done again in the
caller's transaction. Smaller trails are verified in the caller's transaction, in one process.
"""

import multiprocessing
import os
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from hashlib import sha256
from itertools import chain as concatenation
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql as pg_sql
from sqlmodel import Session, select

from cases.core.sqltypes import utcnow
from cases.models import Case
from cases.trail import merkle
from cases.trail.blobs import BlobStore, stored_digests
from cases.trail.canonical import utc_timestamp
from cases.trail.checkpoints import verified_checkpoints
from cases.trail.erasure import erased_files
from cases.trail.events import (
    ChainSegment,
    EventRecord,
    TrailError,
    case_tag,
    check_stored_events,
    join_segments,
    verify_chain,
)
from cases.trail.models import Blob, CaseEvent, EventPayload, LogHead, LogLeaf
from cases.trail.signed_notes import CheckpointError, KeyFormatError
from cases.trail.store import pending_events

PARALLEL_FROM = 200_000  # log size from which extra processes pay for their start-up
# Each event task leaves a segment of every chain it meets to be joined, so processes beyond a
# handful would cost more in joining than they save.
PROCESSES = min(os.cpu_count() or 1, 8)
# Event tasks are one per process; log tasks are cut finer, for the processes that start late
# (all but this one) to finish with it.
LOG_TASKS_PER_PROCESS = 8
BATCH = 5_000  # rows fetched at a time
SUSPECTS_PER_QUERY = 500

# One past the last leaf a stored subtree covers: the log size at which append_leaf made it.
_NODE_END = '(CAST("index" + 1 AS BIGINT) << level)'


@dataclass
class AuditReport:
    """What a verification pass checked (all of it passed, or TrailError was raised)."""

    leaves: int = 0
    nodes: int = 0
    checkpoints: int = 0
    cases: int = 0
    events: int = 0
    erased: int = 0
    blobs: int = 0
    erased_blobs: int = 0  # files whose bytes an erasure deleted (`cases.trail.erasure`)
    pending: int = 0  # events appended and chained, not yet given a log index
    overdue: str | None = None  # what is wrong when events stayed pending too long
    processes: int = 1
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"log: {self.leaves} leaves, {self.nodes} stored subtree hashes recomputed",
            f"checkpoints: {self.checkpoints} signatures and roots checked",
            f"cases: {self.cases} chains, {self.events} events ({self.erased} payloads erased"
            + (f", {self.pending} pending integration)" if self.pending else ")"),
            f"blobs: {self.blobs} files re-hashed"
            + (f", {self.erased_blobs} erased" if self.erased_blobs else ""),
            *self.notes,
            *([f"WARNING: {self.overdue}"] if self.overdue else []),
        ]


def verify_trail(
    session: Session,
    *,
    verifier_key: str,
    store: BlobStore,
    case_ref: str | None = None,
    pending_alert: timedelta | None = None,
) -> AuditReport:
    """Verify everything (or one case and the log it lives in); raise TrailError at the first
    failure. Events pending integration longer than `pending_alert` are reported as overdue."""
    report = AuditReport()
    if pending_alert is not None:
        _, report.overdue = pending_integration(session, older_than=pending_alert)
    try:
        checkpoints = verified_checkpoints(session, verifier_key=verifier_key)
    except (CheckpointError, KeyFormatError) as exc:
        raise TrailError(f"checkpoint signature: {exc}") from None
    report.checkpoints = len(checkpoints)
    head = session.exec(select(LogHead).where(LogHead.id == 1)).one()
    for checkpoint in checkpoints:
        if checkpoint.size > head.size:
            raise TrailError(
                f"checkpoint {checkpoint.id} covers {checkpoint.size} leaves but the log has "
                f"{head.size}: the log was truncated"
            )
    roots = tuple((c.size, c.id, c.root) for c in checkpoints)
    for size, checkpoint_id, root in roots:
        if size == 0:
            _check_root(size, checkpoint_id, root, merkle.EMPTY_ROOT)
    plan = _Plan(
        head_size=head.size,
        head_border=tuple(head.border),
        roots=roots,
        tag=None if case_ref is None else case_tag(case_ref),
    )
    log, chains = _run_tasks(session, plan, report, events=case_ref is None)
    for result in log:
        if result.error is not None:
            raise TrailError(result.error)
    report.leaves = log[-1].size
    report.nodes = sum(result.nodes for result in log)

    cases = select(Case.id, Case.reference)
    if case_ref is not None:
        cases = cases.where(Case.reference == case_ref)
    references = dict(session.exec(cases).all())
    if case_ref is not None:
        if not references:
            raise TrailError(f"no case {case_ref}")
        referenced_blobs = _verify_cases(session, sorted(references), references, report)
        _verify_case_completeness(session, case_ref, [i for r in log for i in r.tagged])
    else:
        _join_chains(session, chains, references, report)
        # Each event matched a leaf of its own (a chain cannot hold an entry hash twice), so as
        # many events as leaves leaves no leaf without an event; otherwise find the one.
        if report.events - report.pending != report.leaves:
            _verify_completeness(session)
        referenced_blobs = None
    _verify_blobs(session, store, referenced_blobs, report)
    return report


def pending_integration(session: Session, *, older_than: timedelta) -> tuple[int, str | None]:
    """How many events await their log index, and what to tell an operator when some have
    waited longer than `older_than` (the integrator is not running, or cannot keep up)."""
    count, oldest = pending_events(session)
    if count == 0 or utcnow() - oldest <= older_than:
        return count, None
    return count, (
        f"{count} event(s) pending integration, the oldest appended at {utc_timestamp(oldest)}, "
        f"more than {int(older_than.total_seconds())} s ago: is the log integrator running "
        "(`flask --app app trail integrate`)?"
    )


# --- tasks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What every task checks against: the log head and checkpoints as the caller read them."""

    head_size: int
    head_border: tuple[str, ...]
    roots: tuple[tuple[int, int, str], ...]  # (size, checkpoint id, root hex)
    tag: bytes | None  # collect the leaves carrying this case tag


@dataclass(frozen=True)
class _Task:
    """Leaves [start, stop) of the log, or the events at those log indexes. None is unbounded:
    the first and last tasks of a kind also see any row outside the expected ranges."""

    plan: _Plan
    events: bool
    start: int | None = None
    stop: int | None = None


@dataclass
class _Result:
    head_size: int  # the log size in the task's snapshot
    error: str | None = None  # a log task's first failure, in log order
    size: int = 0  # the log size a log task reached
    nodes: int = 0
    tagged: list[int] = field(default_factory=list)
    segments: dict[int, ChainSegment] = field(default_factory=dict)
    suspects: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class _Source:
    """How a task opens a connection of its own; picklable, for the pool's processes."""

    backend: str  # "sqlite" or "postgresql"
    url: str  # a SQLite file path, or a libpq URL
    snapshot: str | None = None  # PostgreSQL: the caller's exported snapshot


def _run_tasks(
    session: Session, plan: _Plan, report: AuditReport, *, events: bool
) -> tuple[list[_Result], list[_Result]]:
    """The log tasks' results in log order, and the event tasks' in id order."""
    connection = session.connection()
    source = _parallel_source(connection, plan.head_size)
    if source is not None:
        if source.backend == "postgresql":
            snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            source = _Source(source.backend, source.url, snapshot)
        log_tasks = _log_tasks(plan)
        event_tasks = _event_tasks(plan) if events else []
        results = _run_in_parallel(source, [*event_tasks, *log_tasks])
        if all(result.head_size == plan.head_size for result in results):
            report.processes = PROCESSES
            return results[len(event_tasks) :], results[: len(event_tasks)]
        # The log grew between the caller's read of its head and a task's snapshot (on SQLite,
        # whose readers cannot share one): verify what the caller's transaction sees instead.
    reader = _Reader.of(connection)
    log = _run_task(reader, _Task(plan, events=False))
    if log.error is not None or not events:
        return [log], []
    return [log], [_run_task(reader, _Task(plan, events=True))]


def _parallel_source(connection: sa.Connection, size: int) -> _Source | None:
    """Where the pool's processes can connect to, if this trail is worth splitting."""
    url = connection.engine.url
    if size < PARALLEL_FROM or PROCESSES < 2:
        return None
    if url.get_backend_name() == "sqlite":
        # A file only: a memory database is private to its connection; URI forms are left alone.
        if url.database in (None, "", ":memory:") or url.query:
            return None
        return _Source("sqlite", url.database)
    if url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg":
        libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return _Source("postgresql", libpq)
    return None


def _log_tasks(plan: _Plan) -> list[_Task]:
    # Even cuts, at least two leaves apart: the stored subtrees left of an even size are all
    # above level 0, and a task ending at an even size completes a subtree with its last leaf.
    count = max(1, min(PROCESSES * LOG_TASKS_PER_PROCESS, plan.head_size // 2))
    cuts = [plan.head_size * n // count & ~1 for n in range(1, count)]
    return [
        _Task(plan, False, start, stop)
        for start, stop in zip([None, *cuts], [*cuts, None], strict=True)
    ]


def _event_tasks(plan: _Plan) -> list[_Task]:
    cuts = [plan.head_size * n // PROCESSES for n in range(1, PROCESSES)]
    return [
        _Task(plan, True, start, stop)
        for start, stop in zip([None, *cuts], [*cuts, None], strict=True)
    ]


def _run_in_parallel(source: _Source, tasks: list[_Task]) -> list[_Result]:
    context = multiprocessing.get_context("spawn")  # no inherited connections or locks
    # The tasks no one has taken yet, [front, back): the pool's processes take them from the
    # front, this one from the back. (A pool hands out tasks ahead of time, which would leave
    # this process idle while the others work through theirs.)
    left = context.Array("q", [1, len(tasks)])
    with ProcessPoolExecutor(
        PROCESSES - 1, mp_context=context, initializer=_share_tasks_left, initargs=(left,)
    ) as pool:
        futures = [pool.submit(_run_from_front, source, tasks) for _ in range(PROCESSES - 1)]
        done = {0: _run_task_on(source, tasks[0])}  # while the pool's processes start
        while (n := _take(left, front=False)) is not None:
            done[n] = _run_task_on(source, tasks[n])
        for future in futures:
            done |= future.result()
    return [done[n] for n in range(len(tasks))]


_tasks_left: Any = None  # in the pool's processes, _run_in_parallel's `left`


def _share_tasks_left(left: Any) -> None:
    global _tasks_left
    _tasks_left = left


def _run_from_front(source: _Source, tasks: list[_Task]) -> dict[int, _Result]:
    """In a pool process: tasks from the front, until none are left."""
    done = {}
    while (n := _take(_tasks_left, front=True)) is not None:
        done[n] = _run_task_on(source, tasks[n])
    return done


def _take(left: Any, *, front: bool) -> int | None:
    with left.get_lock():
        first, end = left[0], left[1]
        if first == end:
            return None
        if front:
            left[0] = first + 1
            return first
        left[1] = end - 1
        return end - 1


def _run_task_on(source: _Source, task: _Task) -> _Result:
    """A task on a connection of its own, in whichever process runs it."""
    if source.backend == "sqlite":
        with closing(sqlite3.connect(source.url, timeout=30, isolation_level=None)) as db:
            db.execute("BEGIN")  # deferred: the first read fixes the snapshot
            return _run_task(_Reader(db, server_side=False), task)
    with psycopg.connect(source.url) as db:
        db.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        db.read_only = True
        db.execute(pg_sql.SQL("SET TRANSACTION SNAPSHOT {}").format(source.snapshot))
        # The tasks are the parallelism: PostgreSQL's own workers would only compete with them.
        db.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        return _run_task(_Reader(db, server_side=True), task)


class _Reader:
    """Plain SQL on a DBAPI connection, rows as tuples. On PostgreSQL, large results come from
    server-side cursors or streams: a client-side cursor would hold them whole in memory."""

    def __init__(self, db: Any, *, server_side: bool) -> None:
        self.db, self.server_side = db, server_side

    @classmethod
    def of(cls, connection: sa.Connection) -> "_Reader":
        """The driver connection under a SQLAlchemy one, in its transaction."""
        server_side = connection.dialect.name == "postgresql"
        return cls(connection.connection.driver_connection, server_side=server_side)

    @contextmanager
    def rows(self, statement: str, name: str) -> Iterator[Iterator[tuple]]:
        """The statement's rows, fetched many at a time: stepping several cursors a row at a
        time in turn costs more than the rows themselves."""
        server_side = self.server_side
        cursor = self.db.cursor(name=name, binary=True) if server_side else self.db.cursor()
        with closing(cursor):
            cursor.execute(statement)
            yield concatenation.from_iterable(iter(lambda: cursor.fetchmany(BATCH), []))

    @contextmanager
    def stream(self, statement: str) -> Iterator[Iterator[tuple]]:
        """The rows of a statement that has the connection to itself: PostgreSQL sends them on
        without being asked for more, so it works while they are checked."""
        if not self.server_side:
            with self.rows(statement, "stream") as rows:
                yield rows
            return
        with self.db.cursor(binary=True) as cursor:
            yield cursor.stream(statement, size=BATCH)

    def first(self, statement: str) -> tuple | None:
        with closing(self.db.cursor()) as cursor:
            cursor.execute(statement)
            return cursor.fetchone()


def _run_task(reader: _Reader, task: _Task) -> _Result:
    result = _Result(head_size=reader.first("SELECT size FROM log_head WHERE id = 1")[0])
    if task.events:
        with reader.stream(_events_sql(task)) as rows:
            result.segments, result.suspects = check_stored_events(rows)
        return result
    try:
        result.size, result.nodes, result.tagged = _check_log_range(reader, task)
    except TrailError as exc:
        result.error = str(exc)
    return result


def _events_sql(task: _Task) -> str:
    # In log order, which is each chain's order too: an append reads its case's head under the
    # log lock (id order need not be). Events without a log index are in no range but the
    # whole log's: _join_chains finds them.
    in_range = _where(("e.log_index >=", task.start), ("e.log_index <", task.stop))
    # The range repeated for the leaves, for PostgreSQL to read no more of log_leaf than needed.
    leaves = _where(('l."index" >=', task.start), ('l."index" <', task.stop), first=False)
    return (
        "SELECT e.case_id, e.seq, e.header, e.entry_hash, e.prev_hash, p.payload, p.salt, l.data"
        " FROM case_event e LEFT JOIN event_payload p ON p.event_id = e.id"
        f' LEFT JOIN log_leaf l ON l."index" = e.log_index{leaves}{in_range}'
        " ORDER BY e.log_index"
    )


def _where(*conditions: tuple[str, int | None], first: bool = True) -> str:
    """SQL conditions on integers, those whose value is None left out; `first`: WHERE, else
    AND."""
    terms = [f"{term} {value:d}" for term, value in conditions if value is not None]
    if not terms:
        return ""
    return f" {'WHERE' if first else 'AND'} {' AND '.join(terms)}"


# A log task: its leaves in index order, and the stored subtrees each completes.
# In the order append_leaf makes them (by the leaf that completes them) subtrees must be sorted,
# which costs more than hashing them; level by level they come off the primary key in order.
# So they are read level by level, and only if anything is amiss is the task read again in
# append order, for the failure named to be the first in that order, as in a single pass.

Checked = tuple[int, int, list[int]]  # log size reached, subtrees recomputed, tagged leaves
_LEVELS = 64  # more than any log has


def _check_log_range(reader: _Reader, task: _Task) -> Checked:
    """Recompute every stored subtree the task's leaves complete, and the checkpoint roots."""
    border = merkle.compact_range(task.start or 0, _node_lookup(reader))
    try:
        checked = _check_by_level(reader, task, list(border))
    except TrailError:
        checked = None
    return checked or _check_in_order(reader, task, border)


def _check_by_level(reader: _Reader, task: _Task, border: list[bytes]) -> Checked | None:
    """The task's log pass if all is well; None or TrailError otherwise."""
    start, stop, plan = task.start, task.stop, task.plan
    end = stop if stop is not None else plan.head_size
    top = end.bit_length()  # no subtree of the first `end` leaves is higher
    with ExitStack() as stack:
        stored = [iter(())] * _LEVELS
        for level in range(1, top + 1):
            # Subtree (level, index) ends in leaves (start, stop] iff its index is in this range.
            lower = None if start is None else start >> level
            upper = None if stop is None else (stop >> level) - 1
            indexes = _where(('"index" >=', lower), ('"index" <=', upper), first=False)
            sql = f'SELECT level, "index", hash FROM log_node WHERE level = {level}{indexes}'
            sql += ' ORDER BY "index"'
            stored[level] = stack.enter_context(reader.rows(sql, f"level_{level}"))
        leaves = stack.enter_context(reader.rows(_leaves_sql(task), "leaves"))
        size, nodes, tagged = _walk_leaves(leaves, stored, task, border)
        if size != end or any(next(level, None) is not None for level in stored):
            return None
    others = f"SELECT 1 FROM log_node WHERE (level < 1 OR level > {top})"
    if reader.first(f"{others}{_where(*_node_range(task), first=False)} LIMIT 1") is not None:
        return None
    if stop is None and tuple(h.hex() for h in border) != plan.head_border:
        return None
    return size, nodes, tagged


def _check_in_order(reader: _Reader, task: _Task, border: list[bytes]) -> Checked:
    """The task's log pass in append order; raises TrailError at the first failure."""
    stop, plan = task.stop, task.plan
    nodes_sql = (
        f'SELECT level, "index", hash FROM log_node{_where(*_node_range(task))}'
        f" ORDER BY {_NODE_END}, level"
    )
    with (
        reader.rows(nodes_sql, "nodes") as stored,
        reader.rows(_leaves_sql(task), "leaves") as leaves,
    ):
        size, nodes, tagged = _walk_leaves(leaves, [stored] * _LEVELS, task, border)
        if size == stop:
            return size, nodes, tagged
        beyond = next(stored, None) is not None
    if stop is not None:
        # The task's leaves ran out before its end: is one missing, or does the log end here
        # (and are subtrees stored beyond it, past this task's range too)?
        following = reader.first(f'SELECT min("index") FROM log_leaf WHERE "index" >= {size:d}')
        if following[0] is not None:
            raise TrailError(f"log leaf {size} is missing (next stored leaf is {following[0]})")
        beyond_sql = f"SELECT 1 FROM log_node WHERE {_NODE_END} > {size:d} LIMIT 1"
        beyond = reader.first(beyond_sql) is not None
    if beyond:
        raise TrailError("the log stores subtree hashes beyond its leaves")
    if size != plan.head_size or tuple(h.hex() for h in border) != plan.head_border:
        raise TrailError(
            f"the log head says {plan.head_size} leaves but {size} are stored, or its border "
            "differs"
        )
    return size, nodes, tagged


def _leaves_sql(task: _Task) -> str:
    bounds = _where(('"index" >=', task.start), ('"index" <', task.stop))
    return f'SELECT "index", data FROM log_leaf{bounds} ORDER BY "index"'


def _node_range(task: _Task) -> tuple[tuple[str, int | None], ...]:
    """The stored subtrees that the task's leaves complete, or would if they were right."""
    return (f"{_NODE_END} >", task.start), (f"{_NODE_END} <=", task.stop)


def _walk_leaves(
    leaves: Iterator[tuple], stored: list[Iterator[tuple]], task: _Task, border: list[bytes]
) -> tuple[int, int, list[int]]:
    """merkle.append_leaf over the task's leaves, from `border`, its start's (which it leaves
    as the border of the size reached); each subtree completed must be the next in
    `stored[level]`, and the root at each checkpoint's size its root. Returns the size reached,
    the subtrees compared and the leaves carrying the plan's tag."""
    roots_wanted = defaultdict(list)
    for size, checkpoint_id, root in task.plan.roots:
        roots_wanted[size].append((checkpoint_id, root))
    size, nodes = task.start or 0, 0
    tag, tagged = task.plan.tag, []
    # leaf_hash and node_hash inlined, and the border held as hashes computed here, so that
    # append_leaf's argument checks are not paid per leaf; copying a primed hash object skips
    # re-fetching the digest each time.
    new_leaf, new_node = sha256(b"\x00").copy, sha256(b"\x01").copy
    for index, data in leaves:
        if index != size:
            raise TrailError(f"log leaf {size} is missing (next stored leaf is {index})")
        if tag is not None and data[:32] == tag:
            tagged.append(index)
        hasher = new_leaf()
        hasher.update(data)
        current, level, node_index = hasher.digest(), 0, size
        while node_index & 1:
            hasher = new_node()
            hasher.update(border.pop())
            hasher.update(current)
            current = hasher.digest()
            level, node_index = level + 1, node_index >> 1
            row = next(stored[level], None)
            if row is None or row[0] != level or row[1] != node_index:
                raise TrailError(f"stored subtree ({level}, {node_index}) is missing")
            if row[2] != current:
                raise TrailError(
                    f"stored subtree ({level}, {node_index}) does not match the leaves below it"
                )
            nodes += 1
        border.append(current)
        size += 1
        if size in roots_wanted:
            for checkpoint_id, root in roots_wanted[size]:
                _check_root(size, checkpoint_id, root, merkle.root_from_border(border))
    return size, nodes, tagged


def _node_lookup(reader: _Reader) -> Callable[[int, int], bytes]:
    def node(level: int, index: int) -> bytes:
        row = reader.first(
            f'SELECT hash FROM log_node WHERE level = {level:d} AND "index" = {index:d}'
        )
        if row is None:
            raise TrailError(f"stored subtree ({level}, {index}) is missing")
        return row[0]

    return node


def _check_root(size: int, checkpoint_id: int, wanted: str, root: bytes) -> None:
    if root.hex() != wanted:
        raise TrailError(
            f"the log's root at size {size} does not match signed checkpoint "
            f"{checkpoint_id}: leaves were changed, removed or reordered"
        )


# --- chains ----------------------------------------------------------------------------------


def _join_chains(
    session: Session, results: list[_Result], references: dict[int, str], report: AuditReport
) -> None:
    unlogged = select(CaseEvent.case_id).where(CaseEvent.log_index.is_(None)).distinct()
    suspects = set(session.exec(unlogged)).union(*(result.suspects for result in results))
    chains = join_segments((result.segments for result in results), references, suspects)
    # verify_chain judges the rest, in case order, so the first failure is the one it names.
    _verify_cases(session, sorted(suspects), references, report)
    for summary in chains.values():
        report.cases += 1
        report.events += summary.count
        report.erased += summary.erased


def _verify_cases(
    session: Session, case_ids: list[int], references: dict[int, str], report: AuditReport
) -> set[str]:
    """verify_chain over the given cases' events, read in seq order, one case after another."""
    blobs: set[str] = set()
    for first in range(0, len(case_ids), SUSPECTS_PER_QUERY):
        chunk = case_ids[first : first + SUSPECTS_PER_QUERY]
        blobs |= _verify_chains(session, chunk, references, report)
    return blobs


def _verify_chains(
    session: Session, case_ids: list[int], references: dict[int, str], report: AuditReport
) -> set[str]:
    # Plain columns, not ORM entities: building two objects per event cost more than verifying.
    statement = (
        select(
            CaseEvent.case_id,
            CaseEvent.seq,
            CaseEvent.header,
            CaseEvent.entry_hash,
            CaseEvent.prev_hash,
            CaseEvent.log_index,
            EventPayload.payload,
            EventPayload.salt,
            LogLeaf.data,
        )
        .join(EventPayload, EventPayload.event_id == CaseEvent.id, isouter=True)
        .join(LogLeaf, LogLeaf.index == CaseEvent.log_index, isouter=True)
        .where(CaseEvent.case_id.in_(case_ids))
        .order_by(CaseEvent.case_id, CaseEvent.seq)
    )
    blobs: set[str] = set()
    current: int | None = None
    reference, tag = "?", b""
    chain: list[EventRecord] = []

    def finish() -> None:
        if current is None:
            return
        if current not in references:
            raise TrailError(f"events exist for case id {current}, which has no case row")
        summary = verify_chain(references[current], chain)
        report.cases += 1
        report.events += summary.count
        report.erased += summary.erased
        blobs.update(summary.blobs)

    for case_id, seq, header, entry, prev, log_index, payload, salt, leaf in session.execute(
        statement
    ):
        if case_id != current:
            finish()
            current, chain = case_id, []
            reference = references.get(case_id, "?")
            tag = case_tag(reference)  # once per case: leaf_data would hash it per event
        entry_hash = bytes.fromhex(entry)
        if log_index is None:
            report.pending += 1  # chained like any other; its leaf is the integrator's to write
        elif leaf is None or leaf != tag + entry_hash:
            raise TrailError(f"case {reference} event {seq}: not the leaf at log index {log_index}")
        chain.append(
            EventRecord(
                seq=seq,
                header=header.encode("utf-8"),
                entry_hash=entry_hash,
                prev_hash=bytes.fromhex(prev),
                payload=None if payload is None else payload.encode("utf-8"),
                salt=None if salt is None else bytes.fromhex(salt),
                log_index=log_index,
            )
        )
    finish()
    return blobs


def _verify_completeness(session: Session) -> None:
    orphan = session.exec(
        select(LogLeaf.index)
        .join(CaseEvent, CaseEvent.log_index == LogLeaf.index, isouter=True)
        .where(CaseEvent.id.is_(None))
        .order_by(LogLeaf.index)
        .limit(1)
    ).first()
    if orphan is not None:
        raise TrailError(f"log leaf {orphan} has no event: an event was deleted")


def _verify_case_completeness(session: Session, case_ref: str, tagged: list[int]) -> None:
    known = set(
        session.exec(
            select(CaseEvent.log_index)
            .join(Case, Case.id == CaseEvent.case_id)
            .where(Case.reference == case_ref)
        )
    )
    for index in tagged:
        if index not in known:
            raise TrailError(f"log leaf {index} belongs to {case_ref} but its event is missing")


def _verify_blobs(
    session: Session, store: BlobStore, only: set[str] | None, report: AuditReport
) -> None:
    rows = {blob.sha256: blob for blob in session.exec(select(Blob))}
    wanted = only if only is not None else set(rows)
    for sha in sorted(wanted):
        blob = rows.get(sha)
        if blob is None:
            raise TrailError(f"blob {sha} is referenced by an event but not stored")
        try:
            found = stored_digests(store, sha, restricted=blob.restricted)
        except FileNotFoundError:
            if erased_files(session, shas=[sha]):
                report.erased_blobs += 1
                continue
            raise TrailError(f"blob {sha} is missing from the store") from None
        if found.sha256 != sha:
            raise TrailError(f"blob {sha}: its bytes do not match its hash")
        # MD5 and SHA-1 go to NCMEC from these rows, so they are checked against the bytes too.
        if (found.md5, found.sha1, found.size) != (blob.md5, blob.sha1, blob.size):
            raise TrailError(f"blob {sha}: its recorded MD5, SHA-1 or size differs from its bytes")
        report.blobs += 1
