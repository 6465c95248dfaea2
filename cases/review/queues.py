"""Work queues: one per queue name the workflows' states use, with counts, filters, sort orders and
keyset pagination.

A page is one index range scan whatever its depth: the cursor carries the last row's sort key and
id, and the next page starts strictly after it (no OFFSET, which would read and discard every
earlier row). Each sort order has its composite index, (queue, key, id). Restricted cases are
filtered in the query itself (`cases.access.visible_cases`), and a restricted queue is not even
named to a viewer who may not see its cases.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from cases.accounts.access import Viewer, sees_restricted, visible_cases
from cases.core.sqltypes import utcnow
from cases.enums import ReportSource, SlaStatus, Stage
from cases.lifecycle.deployed import definitions
from cases.lifecycle.sla import DUE_SOON, sla_status
from cases.models import Case, Report, Subject, User
from cases.review.claims import claim_is_live

STAGE_ORDER = list(Stage)


class QueueNotFound(LookupError):
    """No such queue, or not one this viewer may see (indistinguishable on purpose)."""


class InvalidCursor(ValueError):
    """A page cursor that this service did not issue for this sort order."""


CURSOR_MAX = 200  # characters; those given out are under 100
INTEGER = 2**31  # ids and priorities are INTEGER columns


@dataclass(frozen=True)
class Queue:
    name: str
    label: str
    restricted: bool
    """Every workflow feeding it is restricted: only viewers cleared for restricted cases see it."""


def all_queues() -> list[Queue]:
    """Every queue the loaded workflows name, in working order (restricted queues last)."""
    stages: dict[str, int] = {}
    open_workflows: dict[str, bool] = {}
    for workflow in definitions().workflows.values():
        for state in workflow.states.values():
            if state.queue is None:
                continue
            stage = STAGE_ORDER.index(state.stage)
            stages[state.queue] = min(stages.get(state.queue, stage), stage)
            open_workflows[state.queue] = open_workflows.get(state.queue, False) or (
                not workflow.restricted
            )
    queues = [
        Queue(name=name, label=name.replace("_", " ").capitalize(), restricted=not unrestricted)
        for name, unrestricted in open_workflows.items()
    ]
    return sorted(queues, key=lambda q: (q.restricted, stages[q.name], q.name))


def queues_for(viewer: Viewer) -> list[Queue]:
    """The queues `viewer` may see."""
    cleared = sees_restricted(viewer)
    return [queue for queue in all_queues() if cleared or not queue.restricted]


def get_queue(name: str, *, viewer: Viewer) -> Queue:
    """The queue called `name`, if `viewer` may see it; else QueueNotFound."""
    for queue in queues_for(viewer):
        if queue.name == name:
            return queue
    raise QueueNotFound(f"no queue {name!r}")


# --- SLA state, in SQL -----------------------------------------------------------------------


def sla_condition(status: SlaStatus, now: datetime) -> sa.ColumnElement[bool]:
    """The SQL twin of `cases.sla.sla_status`: cases whose clock is in `status` at `now`."""
    due, paused, flagged = col(Case.sla_due_at), col(Case.sla_paused_at), col(Case.sla_breached)
    running = paused.is_(None)
    overdue = sa.or_(flagged.is_(True), due <= now)
    conditions = {
        SlaStatus.paused: paused.is_not(None),
        SlaStatus.none: sa.and_(running, due.is_(None)),
        SlaStatus.breached: sa.and_(running, due.is_not(None), overdue),
        SlaStatus.due_soon: sa.and_(running, flagged.is_(False), due > now, due <= now + DUE_SOON),
        SlaStatus.on_track: sa.and_(running, flagged.is_(False), due > now + DUE_SOON),
    }
    return conditions[status]


def unclaimed_condition(now: datetime) -> sa.ColumnElement[bool]:
    """Nobody holds a live claim (an expired claim counts as none: the case is back in play)."""
    return sa.or_(col(Case.assignee_id).is_(None), col(Case.claim_expires_at) <= now)


# --- counts ----------------------------------------------------------------------------------


# Counts stop at a cap and show as "10,000+": an exact figure would read every case of a large
# queue (some 50 ms a quarter of a million), and past the cap the number changes no decision.
COUNT_CAP = 10_000
DETAIL_CAP = 1_000


@dataclass(frozen=True)
class QueueCounts:
    """A total is at most cap + 1, the others at most detail_cap + 1 ("more than the cap")."""

    total: int = 0
    unclaimed: int = 0
    breached: int = 0
    cap: int = COUNT_CAP
    detail_cap: int = DETAIL_CAP


def queue_counts(
    session: Session, *, viewer: Viewer, now: datetime | None = None
) -> dict[str, QueueCounts]:
    """Open cases per queue the viewer may see, how many of them are unclaimed and how many have
    breached their SLA, each counted up to its cap + 1: one statement of index-only range counts
    (the counting index holds every column these conditions name)."""
    now = now or utcnow()
    queues = queues_for(viewer)
    kinds = (
        (sa.true(), COUNT_CAP),
        (unclaimed_condition(now), DETAIL_CAP),
        (sla_condition(SlaStatus.breached, now), DETAIL_CAP),
    )
    counted = [_capped_count(viewer, q.name, where, cap) for q in queues for where, cap in kinds]
    row = session.exec(select(*counted)).one() if counted else ()
    return {
        queue.name: QueueCounts(*row[3 * n : 3 * n + 3], cap=COUNT_CAP, detail_cap=DETAIL_CAP)
        for n, queue in enumerate(queues)
    }


def _capped_count(
    viewer: Viewer, queue: str, condition: sa.ColumnElement[bool], cap: int
) -> sa.ScalarSelect:
    first = visible_cases(viewer, select(Case.id)).where(col(Case.queue) == queue, condition)
    return select(func.count()).select_from(first.limit(cap + 1).subquery()).scalar_subquery()


# --- filters ---------------------------------------------------------------------------------

ME = "me"
UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class QueueFilters:
    """What a queue page is narrowed to; None means no narrowing."""

    category: str | None = None
    """A policy group id (e.g. `protect`): cases under any of its clauses."""
    clause: str | None = None
    source: ReportSource | None = None
    """Cases with at least one report from this source."""
    band: str | None = None
    sla: SlaStatus | None = None
    assignee: str | int | None = None
    """ME, UNASSIGNED or a staff user's id."""


def _conditions(
    filters: QueueFilters, *, queue: str, viewer: Viewer, now: datetime
) -> list[sa.ColumnElement[bool]]:
    """The queue's cases that pass the filters, as SQL conditions."""
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.assignee in (None, UNASSIGNED):
        conditions.append(col(Case.queue) == queue)
    else:
        user_id = viewer.id if filters.assignee == ME else int(filters.assignee)
        # A person holds few cases: read them through the assignee index and sort those. Given
        # `queue = ?` as well, a planner without statistics walks the whole queue in sort order
        # looking for them instead.
        held = select(Case.id).where(Case.assignee_id == user_id, Case.queue == queue)
        conditions += [col(Case.id).in_(held), ~unclaimed_condition(now)]
    if filters.category is not None:
        group = next((g for g in definitions().policy.groups if g.id == filters.category), None)
        clauses = [c.id for c in group.clauses] if group else []
        conditions.append(col(Case.policy_clause).in_(clauses))
    if filters.clause is not None:
        conditions.append(col(Case.policy_clause) == filters.clause)
    if filters.source is not None:
        conditions.append(
            select(Report.id)
            .where(Report.case_id == Case.id, Report.source == filters.source)
            .exists()
        )
    if filters.band is not None:
        conditions.append(col(Case.priority_band) == filters.band)
    if filters.sla is not None:
        conditions.append(sla_condition(filters.sla, now))
    if filters.assignee == UNASSIGNED:
        conditions.append(unclaimed_condition(now))
    return conditions


# --- sort orders and keyset cursors ----------------------------------------------------------


class SortOrder(StrEnum):
    priority = "priority"
    sla = "sla"
    oldest = "oldest"


SORT_LABELS = {
    SortOrder.priority: "Highest priority first",
    SortOrder.sla: "SLA due soonest",
    SortOrder.oldest: "Oldest first",
}


@dataclass(frozen=True)
class SortKey:
    column: InstrumentedAttribute
    descending: bool
    nullable: bool
    """Rows without a value come last, ordered by id (a separate range of the same index)."""
    timestamp: bool
    """The value is a time (else a whole number)."""


SORT_KEYS = {
    SortOrder.priority: SortKey(Case.priority, descending=True, nullable=False, timestamp=False),
    SortOrder.sla: SortKey(Case.sla_due_at, descending=False, nullable=True, timestamp=True),
    SortOrder.oldest: SortKey(Case.opened_at, descending=False, nullable=False, timestamp=True),
}


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last row's sort value and id."""

    value: Any
    case_id: int


def encode_cursor(sort: SortOrder, position: Position) -> str:
    value = position.value.isoformat() if isinstance(position.value, datetime) else position.value
    raw = json.dumps([sort.value, value, position.case_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, sort: SortOrder) -> Position:
    """The position a cursor from `encode_cursor` points at; InvalidCursor if it is not one."""
    try:
        if len(token) > CURSOR_MAX:
            raise ValueError("longer than any cursor given out")
        name, value, case_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise InvalidCursor("this page link is damaged: start again from the first page") from None
    key = SORT_KEYS[sort]
    if name != sort.value or type(case_id) is not int:
        raise InvalidCursor("this page link belongs to another sort order")
    # Values the columns cannot hold cannot be compared with them (PostgreSQL refuses to).
    if not 0 < case_id < INTEGER:
        raise InvalidCursor("the case in this page link is out of range")
    if value is None:
        if not key.nullable:
            raise InvalidCursor("this sort order has no empty values")
    elif key.timestamp:
        try:
            value = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise InvalidCursor("the time in this page link is not a time") from None
        if value.tzinfo is None:
            raise InvalidCursor("the time in this page link has no zone")
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            raise InvalidCursor("the time in this page link is out of range") from None
    elif type(value) is not int:
        raise InvalidCursor("the value in this page link is not a whole number")
    elif not -INTEGER <= value < INTEGER:
        raise InvalidCursor("the value in this page link is out of range")
    return Position(value, case_id)


def _valued_rows(statement: SelectOfScalar, key: SortKey, after: Position | None) -> SelectOfScalar:
    """Rows with a sort value, after `after`, in order. The redundant `<=`/`>=` bound is what
    makes both planners start the index scan at the cursor instead of filtering up to it."""
    column = key.column
    if after is None:
        if key.nullable:
            statement = statement.where(column.is_not(None))
    else:
        beyond = column < after.value if key.descending else column > after.value
        reach = column <= after.value if key.descending else column >= after.value
        statement = statement.where(
            reach, sa.or_(beyond, sa.and_(column == after.value, col(Case.id) > after.case_id))
        )
    return statement.order_by(column.desc() if key.descending else column.asc(), col(Case.id))


def _valueless_rows(statement: SelectOfScalar, key: SortKey, after_id: int | None):
    statement = statement.where(key.column.is_(None))
    if after_id is not None:
        statement = statement.where(col(Case.id) > after_id)
    return statement.order_by(col(Case.id))


# --- listing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueEntry:
    case: Case
    subject: Subject
    assignee: User | None
    claim_live: bool
    """The assignee's claim has not expired (an expired one no longer keeps others out)."""
    sla: SlaStatus


@dataclass(frozen=True)
class QueuePage:
    entries: list[QueueEntry]
    next_cursor: str | None


def list_queue(
    session: Session,
    *,
    queue: Queue,
    viewer: Viewer,
    filters: QueueFilters = QueueFilters(),
    sort: SortOrder = SortOrder.priority,
    cursor: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> QueuePage:
    """One page of `queue` as `viewer` may see it, after `cursor` (None: the first page)."""
    now = now or utcnow()
    key = SORT_KEYS[sort]
    after = decode_cursor(cursor, sort) if cursor else None
    base = visible_cases(viewer).where(
        *_conditions(filters, queue=queue.name, viewer=viewer, now=now)
    )
    cases: list[Case] = []
    if after is None or after.value is not None:
        cases = list(session.exec(_valued_rows(base, key, after).limit(limit + 1)))
    if key.nullable and len(cases) <= limit:
        after_id = after.case_id if after is not None and after.value is None else None
        tail = _valueless_rows(base, key, after_id).limit(limit + 1 - len(cases))
        cases += session.exec(tail)
    next_cursor = None
    if len(cases) > limit:
        cases = cases[:limit]
        last = cases[-1]
        next_cursor = encode_cursor(sort, Position(getattr(last, key.column.key), last.id))
    return QueuePage(entries=_entries(session, cases, now=now), next_cursor=next_cursor)


def _entries(session: Session, cases: list[Case], *, now: datetime) -> list[QueueEntry]:
    """Each case with its subject and assignee, read in one query each (not one per row)."""
    subject_ids = {case.subject_id for case in cases}
    user_ids = {case.assignee_id for case in cases if case.assignee_id is not None}
    subjects = {
        s.id: s for s in session.exec(select(Subject).where(col(Subject.id).in_(subject_ids)))
    }
    users = {u.id: u for u in session.exec(select(User).where(col(User.id).in_(user_ids)))}
    return [
        QueueEntry(
            case=case,
            subject=subjects[case.subject_id],
            assignee=users.get(case.assignee_id) if case.assignee_id else None,
            claim_live=claim_is_live(case, now),
            sla=SlaStatus(sla_status(case, now=now)),
        )
        for case in cases
    ]
