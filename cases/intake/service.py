"""Intake: a misuse report or a detected violation becomes a report on a case.

Routing: the reporter's category, or the highest detected moderation category, names a policy
clause (policy.toml); the clause names the workflow (child-safety clauses open `child_safety`) and
the default severity. A report carrying a file that matches a known hash
(`cases.child_safety.known_hashes`) goes to the clause the policy maps `sexual/minors` to,
whatever it was sent under: the report keeps the clause it was sent under, its case is opened or
found in `child_safety`, and a `hash_matched` event records the match.

Grouping: a report about a subject that already has an open case in that workflow attaches to it
(an event and a counter) instead of opening another; the subject row is locked first so two
reports arriving together cannot both open a case.

Subjects: only a trusted sender (an integration, known by its API key, or Docket itself) names a
subject's display name and contact; a later one given changes them, and a changed display name is
a `subject_updated` event (old and new) on each case the report lands on, since staff, the
affected user's private page and a CyberTipline report all show it. A notice from the public
(`IntakeItem.public`) changes neither, nor sets them on a subject it is the first to name: nothing
confirms what a stranger calls someone, or where notices to them should go, and the subject row
has no place to mark a value unconfirmed. Its URL and ids stay on its report, where staff see them.
The one display it gives is that of content known by the hash of a long web address, shown as the
address's start: the subject's own identity, not a claim, and it only fills a blank.

Reporters: `Case.reporter_count` counts distinct reporters, each known by a key (`reporter_key`):
- an integration by its API key and source name: a verified reporter;
- a notice from the public by its client network (`cases.core.extensions.client_network`: the
  address, or an IPv6 /64), as an HMAC-SHA256 under the app's SECRET_KEY: the address is not kept,
  and without the secret the hash cannot be reversed by trying every IPv4 address. The name and
  email a notice gives play no part: nothing confirms them (no portal step proves a reporter owns
  the email), so one address sending fifty emails is one reporter. People behind one shared
  address count as one, which only ever undercounts. A notice whose client is unknown (the
  demo, a script) counts on its own;
- any other item by its reporter's email if it has one, else on its own.
Every reporter but an integration is anonymous: `cases.intake.priority` weighs anonymous reporters
less and caps what they add together, so notices from many addresses cannot push a case up
without bound. (SECRET_KEY rotation starts the client hashes afresh: a returning address counts
once more on a case open across it.)

Intake is set-based: `receive_all` takes a batch through a fixed number of statements (subjects
upserted and locked at once, open cases read at once, rows written as multi-row inserts with ids
reserved beforehand, one trail append), with the same outcome as receiving the items one by one.
That keeps a batch of 500 near the cost of a few single requests, and the log-head lock short.
"""

import functools
import hashlib
import hmac
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from cases.child_safety.known_hashes import FileHashes, HashMatch, find_matches
from cases.core.errors import InputInvalid
from cases.core.extensions import client_network
from cases.core.sqltypes import expire_cached, reserve_ids, utcnow
from cases.enums import EventType, ReportSource, Restriction, Stage, SubjectKind
from cases.intake.moderation import ModerationResult
from cases.intake.priority import priority
from cases.jobs.outbox import enqueue_job
from cases.lifecycle import sla
from cases.lifecycle.actors import Actor
from cases.lifecycle.deployed import definitions, register_definition
from cases.models import Case, Decision, Report, Subject
from cases.trail.store import NewEvent, append_events
from workflows import Clause, Workflow, get_state


class IntakeError(InputInvalid):
    """The item cannot be routed; `field` names what is wrong."""


SUBJECT_ID_MAX = 200  # Subject.external_id
DISPLAY_MAX = 200  # Subject.display


@dataclass(frozen=True)
class SubjectRef:
    kind: str
    external_id: str
    display: str | None = None
    # How the operator's platform reaches this person (for notices to the affected user).
    contact_email: str | None = None
    contact_locale: str | None = None


@dataclass(frozen=True)
class IntakeItem:
    """One report or detection, validated by the view or API that received it."""

    source: ReportSource
    subject: SubjectRef
    raw_payload: str
    clause_id: str | None = None
    moderation: ModerationResult | None = None
    source_name: str | None = None
    location: str | None = None
    explanation: str | None = None
    reporter_name: str | None = None
    reporter_email: str | None = None
    good_faith: bool = False
    content_ref: str | None = None
    occurred_at: datetime | None = None
    api_key_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # The files it carries or references, to match against known hashes before routing.
    files: tuple[FileHashes, ...] = ()
    # A notice from the public (the /report form, POST /api/v1/reports): its sender is anonymous
    # and its subject's display name and contact are not taken (see the module docstring).
    public: bool = False
    client: str | None = None  # the address a public notice came from, when known

    @functools.cached_property
    def routed(self) -> tuple[Clause, int]:
        """`route(self)`, worked out once: the API routes an item to refuse it before anything is
        written, and intake then reads the same answer."""
        return route(self)


@dataclass(frozen=True)
class IntakeOutcome:
    """What became of one item: its report, and its case as this report left it."""

    report_id: int
    policy_clause: str  # the report's, as it was sent (its case may be under another)
    payload_sha256: str
    received_at: datetime
    case_id: int
    reference: str
    workflow: str
    state: str
    priority: int
    priority_band: str
    opened: bool
    restricted: bool  # a child-safety case: nothing about it goes back to whoever sent the item
    session: Session = field(repr=False, compare=False)

    # Intake writes with set-based statements, without ORM objects; these load on first use.
    @functools.cached_property
    def case(self) -> Case:
        return self.session.get(Case, self.case_id)

    @functools.cached_property
    def report(self) -> Report:
        return self.session.get(Report, self.report_id)


def route(item: IntakeItem) -> tuple[Clause, int]:
    """The policy clause and severity for an item (severity 4 when nothing passed the threshold)."""
    policy = definitions().policy
    if item.clause_id:
        try:
            clause = policy.clause(item.clause_id)
        except KeyError:
            raise IntakeError(f"unknown category {item.clause_id!r}", field="category") from None
        return clause, clause.severity
    if item.moderation is None:
        raise IntakeError("a category or a moderation result is required", field="category")
    detected = item.moderation.detected()
    if detected:
        clause = policy.clauses_for_moderation(detected[0][0])[0]
        return clause, clause.severity
    scores = sorted(item.moderation.scores.items(), key=lambda kv: (-kv[1], kv[0]))
    if not scores:
        raise IntakeError("the moderation result has no scores", field="moderation")
    return policy.clauses_for_moderation(scores[0][0])[0], 4


# The moderation category whose first clause a report with a known file is routed to.
KNOWN_HASH_CATEGORY = "sexual/minors"


def matched_route() -> tuple[Clause, int]:
    """The clause and severity for a report carrying a known child sexual abuse file."""
    clause = definitions().policy.clauses_for_moderation(KNOWN_HASH_CATEGORY)[0]
    return clause, clause.severity


def item_matches(session: Session, *, items: Sequence[IntakeItem]) -> list[list[HashMatch]]:
    """For each item, what its files' hashes match (one query for the whole batch)."""
    found = iter(find_matches(session, files=[f for item in items for f in item.files]))
    return [[m for _ in item.files for m in next(found)] for item in items]


VERIFIED_REPORTER = "integration:"  # the reporter keys of verified reporters start with this
_CLIENT_KEY_CONTEXT = b"docket/reporter-client\0"


def reporter_key(item: IntakeItem) -> str:
    """Who reported, for counting distinct reporters (see the module docstring)."""
    if item.api_key_id is not None:
        return f"{VERIFIED_REPORTER}{item.api_key_id}:{item.source_name or ''}"
    if item.public:
        if item.client is None:
            return f"anonymous:{uuid.uuid4().hex}"
        secret = current_app.config["SECRET_KEY"]
        secret = secret.encode() if isinstance(secret, str) else secret
        network = client_network(item.client).encode("utf-8", "surrogatepass")
        return f"client:{hmac.new(secret, _CLIENT_KEY_CONTEXT + network, 'sha256').hexdigest()}"
    if item.reporter_email:
        return f"email:{item.reporter_email.strip().lower()}"
    return f"anonymous:{uuid.uuid4().hex}"


def is_anonymous(reporter_key: str) -> bool:
    """Whether a reporter key is an anonymous reporter's (anyone's but an integration's)."""
    return not reporter_key.startswith(VERIFIED_REPORTER)


SubjectKey = tuple[str, str]  # (kind, external id)
_SUBJECTS = Subject.__table__
_NAMED = ("display", "contact_email", "contact_locale")  # what a trusted sender may name


_CASES = Case.__table__
_DECISIONS = Decision.__table__


def _enforced(case_id: sa.ColumnElement) -> sa.ColumnElement[bool]:
    """Whether the case `case_id` ended in a restriction (a decision other than no action)."""
    return sa.exists().where(
        _DECISIONS.c.case_id == case_id, _DECISIONS.c.restriction != Restriction.no_action
    )


@functools.cache
def _upsert_subjects(dialect: str) -> sa.Insert:
    """INSERT … ON CONFLICT DO UPDATE … RETURNING for `dialect`: creates the new subjects and
    locks the existing ones (an update to the same value takes the row lock), returning each
    row as it now stands: an existing subject's display name and contact before this batch,
    and how many of its cases ended in a restriction (the score's prior enforcement), so that
    takes no statement of its own."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_SUBJECTS)
    # `_enforced`, spelled out: SQLAlchemy renders SQLite's RETURNING without table names, which
    # this subquery's columns need (case_file and decision both have an id).
    enforced = sa.literal_column(
        "(SELECT count(*) FROM case_file AS enforced_case"
        " WHERE enforced_case.subject_id = subject.id AND EXISTS (SELECT 1 FROM decision"
        " WHERE decision.case_id = enforced_case.id"
        f" AND decision.restriction != '{Restriction.no_action.value}'))"
    ).label("enforced")
    return insert.on_conflict_do_update(
        index_elements=["kind", "external_id"], set_={"display": _SUBJECTS.c.display}
    ).returning(
        _SUBJECTS.c.kind, _SUBJECTS.c.external_id, _SUBJECTS.c.id, *_SUBJECTS.c[_NAMED], enforced
    )


_UPDATE_SUBJECTS = _SUBJECTS.update().where(_SUBJECTS.c.id == sa.bindparam("subject_id"))


@dataclass(frozen=True)
class LockedSubjects:
    """The batch's subjects, locked: their ids, each display name it changed (old, new), and
    how many of each one's cases ended in a restriction (by subject id)."""

    ids: dict[SubjectKey, int]
    renamed: dict[SubjectKey, tuple[str | None, str]]
    enforced: dict[int, int]


def content_subject(reference: str) -> SubjectRef:
    """Content as a subject, by its id or web address; a reference too long to be an id is known
    by its SHA-256, and shown as the reference's start."""
    if len(reference) <= SUBJECT_ID_MAX:
        return SubjectRef(kind=SubjectKind.content, external_id=reference)
    digest = hashlib.sha256(reference.encode()).hexdigest()
    return SubjectRef(
        kind=SubjectKind.content, external_id=f"sha256:{digest}", display=reference[:DISPLAY_MAX]
    )


def subject_names(item: IntakeItem) -> tuple[dict[str, str], dict[str, str]]:
    """What an item names of its subject: values that replace the subject's, and values that
    only fill a blank."""
    given = {name: value for name in _NAMED if (value := getattr(item.subject, name)) is not None}
    if not item.public:
        return given, {}
    # A notice from the public names nothing, except the display of content it knows by a hashed
    # reference: that display is the reference itself, not a claim about anyone.
    references = (item.content_ref, item.location)
    own = any(item.subject == content_subject(ref) for ref in references if ref)
    return {}, given if own else {}


def lock_subjects(session: Session, items: Iterable[IntakeItem]) -> LockedSubjects:
    """Create and lock the items' subjects, in (kind, id) order, before any other lock; then
    take the display names and contacts the items may name (`subject_names`), the latest given
    winning (the operator's platform knows its users' current email).

    A batch that locked its subjects item by item would hold some while waiting for the log head,
    and another batch naming the same subjects in another order would deadlock with it. Taking
    them all first, in one order, leaves every transaction the same lock order: subjects, then
    their cases, then the log head. (SQLite's BEGIN IMMEDIATE already serialises writers.)
    """
    named: dict[SubjectKey, tuple[dict[str, str], dict[str, str]]] = {}
    for item in items:
        replace, fill = named.setdefault((item.subject.kind, item.subject.external_id), ({}, {}))
        replacing, filling = subject_names(item)
        replace |= replacing
        fill |= filling
    if not named:
        return LockedSubjects(ids={}, renamed={}, enforced={})
    now = utcnow()
    rows = session.execute(
        _upsert_subjects(session.bind.dialect.name),
        [
            {"kind": kind, "external_id": external_id, "created_at": now}
            | {name: replace.get(name, fill.get(name)) for name in _NAMED}
            for (kind, external_id), (replace, fill) in sorted(named.items())
        ],
    ).all()
    ids: dict[SubjectKey, int] = {}
    enforced: dict[int, int] = {}
    updates: list[dict[str, Any]] = []
    renamed: dict[SubjectKey, tuple[str | None, str]] = {}
    for row in rows:  # a new subject's row holds what was given; an existing one's, what it had
        key, before = (row.kind, row.external_id), row._mapping
        ids[key], enforced[row.id] = row.id, row.enforced
        replace, fill = named[key]
        after = {
            name: replace.get(name, fill.get(name) if before[name] is None else before[name])
            for name in _NAMED
        }
        if after != {name: before[name] for name in _NAMED}:
            updates.append({"subject_id": row.id, **after})
        if after["display"] != before["display"]:
            renamed[key] = (before["display"], after["display"])
    if updates:
        session.execute(_UPDATE_SUBJECTS, updates)
        for update in updates:
            expire_cached(session, Subject, update["subject_id"])
    return LockedSubjects(ids=ids, renamed=renamed, enforced=enforced)


@dataclass
class _CaseRow:
    """The columns intake reads and writes of one case, new or already open."""

    id: int | None
    reference: str
    subject_id: int
    workflow_name: str
    state: str
    severity: int
    report_count: int
    reporter_count: int
    priority: int
    priority_band: str
    opened_at: datetime
    updated_at: datetime
    # The SLA clock (cases.sla.enter_state sets it on a new case).
    sla_due_at: datetime | None = None
    sla_paused_at: datetime | None = None
    sla_remaining_seconds: int | None = None
    sla_breached: bool = False


_ROW_COLUMNS = [_CASES.c[name] for name in _CaseRow.__dataclass_fields__]
_OPEN_CASES = (
    sa.select(*_ROW_COLUMNS, _enforced(_CASES.c.id).label("enforced"))
    .where(
        _CASES.c.subject_id.in_(sa.bindparam("subject_ids", expanding=True)),
        _CASES.c.workflow_name.in_(sa.bindparam("workflows", expanding=True)),
        _CASES.c.stage != Stage.resolved,
    )
    .order_by(_CASES.c.id)
    .with_for_update()
)
_INSERT_CASES = _CASES.insert()
# SET takes the columns each parameter set names (the id is bound as "case_id").
_UPDATE_CASES = _CASES.update().where(_CASES.c.id == sa.bindparam("case_id"))
_PRIOR_ENFORCED = sa.select(sa.func.count()).where(
    _CASES.c.subject_id == sa.bindparam("subject_id"),
    _CASES.c.id != sa.bindparam("excluding"),
    _enforced(_CASES.c.id),
)


def open_cases_for(
    session: Session, *, keys: Iterable[tuple[int, str]]
) -> tuple[dict[tuple[int, str], _CaseRow], set[int]]:
    """Each (subject id, workflow)'s open case, if any (the newest not in a resolved stage),
    locked for this transaction; and the ids of those that ended in a restriction."""
    keys = set(keys)
    rows = session.execute(
        _OPEN_CASES,
        {
            "subject_ids": sorted({subject_id for subject_id, _ in keys}),
            "workflows": sorted({workflow for _, workflow in keys}),
        },
    )
    cases: dict[tuple[int, str], _CaseRow] = {}
    enforced: set[int] = set()
    for row in rows:
        *columns, restricted = row
        case = _CaseRow(*columns)
        if (key := (case.subject_id, case.workflow_name)) in keys:
            cases[key] = case
            if restricted:
                enforced.add(case.id)
    return cases, enforced


def prior_enforced(session: Session, *, subject_id: int, excluding: int | None) -> int:
    """Earlier cases about the subject that ended in a restriction."""
    # No case has id 0: excluding nothing.
    params = {"subject_id": subject_id, "excluding": excluding or 0}
    return session.execute(_PRIOR_ENFORCED, params).scalar_one()


def _known_reporters(
    session: Session, *, case_ids: set[int], keys: set[str]
) -> tuple[dict[int, tuple[int, int]], set[tuple[int, str]]]:
    """For cases already open: how many distinct reporters each has and how many of them are
    anonymous, and which of `keys` are among them (one query: rows are counted by case, by key
    and by anonymity, other keys counted together)."""
    if not case_ids:
        return {}, set()
    rows = session.execute(_REPORTERS, {"case_ids": list(case_ids), "keys": list(keys)})
    counts: dict[int, tuple[int, int]] = defaultdict(lambda: (0, 0))
    seen: set[tuple[int, str]] = set()
    for case_id, known, anonymous, count in rows:
        reporters, anonymous_reporters = counts[case_id]
        counts[case_id] = (reporters + count, anonymous_reporters + (count if anonymous else 0))
        if known is not None:
            seen.add((case_id, known))
    return counts, seen


def case_reference(*, case_id: int, now: datetime) -> str:
    """A case's human-friendly reference, DK-<year>-<id>: it carries the database id, so it is
    unique without a counter table."""
    return f"DK-{now.year}-{case_id:06d}"


def count_reporters(session: Session, *, case_id: int) -> tuple[int, int]:
    """A case's distinct reporters, and how many of them are anonymous (as its score counts)."""
    counts, _ = _known_reporters(session, case_ids={case_id}, keys=set())
    return counts.get(case_id, (0, 0))


_REPORTS = Report.__table__
_KNOWN = (
    sa.select(
        _REPORTS.c.case_id,
        _REPORTS.c.reporter_key,
        sa.case(
            (
                _REPORTS.c.reporter_key.in_(sa.bindparam("keys", expanding=True)),
                _REPORTS.c.reporter_key,
            ),
            else_=sa.null(),
        ).label("known"),
        sa.not_(_REPORTS.c.reporter_key.startswith(VERIFIED_REPORTER)).label("anonymous"),
    )
    .where(_REPORTS.c.case_id.in_(sa.bindparam("case_ids", expanding=True)))
    .subquery()
)
_REPORTERS = sa.select(
    _KNOWN.c.case_id,
    _KNOWN.c.known,
    _KNOWN.c.anonymous,
    sa.func.count(sa.distinct(_KNOWN.c.reporter_key)),
).group_by(_KNOWN.c.case_id, _KNOWN.c.known, _KNOWN.c.anonymous)
_INSERT_REPORTS = _REPORTS.insert()


@dataclass
class _Tally:
    """A case's distinct reporters as the batch goes, to score it after each report."""

    count: int
    anonymous: int
    seen: set[str]
    prior_enforced: int

    def add(self, reporter_key: str) -> None:
        if reporter_key not in self.seen:
            self.seen.add(reporter_key)
            self.count += 1
            self.anonymous += is_anonymous(reporter_key)


def receive(
    session: Session, *, item: IntakeItem, actor: Actor, now: datetime | None = None
) -> IntakeOutcome:
    """Record the item as a report, on the subject's open case or on a new one."""
    return receive_all(session, items=[item], actor=actor, now=now)[0]


def receive_all(
    session: Session, *, items: Sequence[IntakeItem], actor: Actor, now: datetime | None = None
) -> list[IntakeOutcome]:
    """Record each item as a report, in order, as if received one after another.

    Set-based: a batch costs the same dozen statements as a single item, and the trail's
    log-head lock is taken last, when only the events are left to write.
    """
    if not items:
        return []
    now = now or utcnow()
    batch = _plan_and_lock(session, items=items)
    folded = _fold(batch, now=now)
    reports = _write_rows(session, batch=batch, folded=folded, now=now)
    return _record(session, batch=batch, folded=folded, reports=reports, actor=actor, now=now)


@dataclass
class _Batch:
    """The items routed, and what intake read of the rows they land on, locked."""

    items: Sequence[IntakeItem]
    claimed: list[Clause]  # each item's clause as it was sent: its report's
    matches: list[list[HashMatch]]  # each item's files' matches with known hashes
    routes: list[tuple[Clause, int]]  # each item's case's clause and severity
    keys: list[tuple[int, str]]  # each item's case: (subject id, workflow)
    reporter_keys: list[str]
    workflows: dict[str, Workflow]
    # By case key; the fold adds the cases it opens, and both change as it goes.
    cases: dict[tuple[int, str], _CaseRow]
    tallies: dict[tuple[int, str], _Tally]
    enforced: dict[int, int]  # how many of each subject's cases ended in a restriction
    renamed: dict[SubjectKey, tuple[str | None, str]]  # display names changed: (old, new)


@dataclass(frozen=True)
class _Folded:
    """The cases to open (with the columns set once) and each item's score as it left its case."""

    new_cases: dict[tuple[int, str], dict[str, Any]]
    scores: list[tuple[int, str]]


def _plan_and_lock(session: Session, *, items: Sequence[IntakeItem]) -> _Batch:
    """Route the items, lock their subjects and open cases, read prior enforcement and reporters."""
    session.flush()  # pending ORM changes first: the statements below read and write around them
    claimed = [item.routed for item in items]
    matches = item_matches(session, items=items)
    routes = [
        matched_route() if found else sent for sent, found in zip(claimed, matches, strict=True)
    ]
    workflows = {clause.workflow: definitions().current(clause.workflow) for clause, _ in routes}
    subjects = lock_subjects(session, items)
    keys = [
        (subjects.ids[(item.subject.kind, item.subject.external_id)], clause.workflow)
        for item, (clause, _) in zip(items, routes, strict=True)
    ]
    cases, enforced_open = open_cases_for(session, keys=keys)
    reporter_keys = [reporter_key(item) for item in items]
    counts, seen = _known_reporters(
        session, case_ids={case.id for case in cases.values()}, keys=set(reporter_keys)
    )
    tallies = {
        key: _Tally(
            *counts.get(case.id, (0, 0)),
            seen={k for case_id, k in seen if case_id == case.id},
            prior_enforced=subjects.enforced[case.subject_id] - (case.id in enforced_open),
        )
        for key, case in cases.items()
    }
    return _Batch(
        items=items,
        claimed=[clause for clause, _ in claimed],
        matches=matches,
        routes=routes,
        keys=keys,
        reporter_keys=reporter_keys,
        workflows=workflows,
        cases=cases,
        tallies=tallies,
        enforced=subjects.enforced,
        renamed=subjects.renamed,
    )


def _fold(batch: _Batch, *, now: datetime) -> _Folded:
    """Each item in turn, as if alone, onto its case row (opened here when there is none)."""
    new_cases: dict[tuple[int, str], dict[str, Any]] = {}
    scores: list[tuple[int, str]] = []
    cases, tallies = batch.cases, batch.tallies
    for item, (clause, severity), key, rkey in zip(
        batch.items, batch.routes, batch.keys, batch.reporter_keys, strict=True
    ):
        workflow = batch.workflows[clause.workflow]
        case = cases.get(key)
        if case is None:
            case, new_cases[key] = _new_case(
                subject_id=key[0], workflow=workflow, clause=clause, severity=severity, now=now
            )
            cases[key] = case
            tallies[key] = _Tally(
                count=0, anonymous=0, seen=set(), prior_enforced=batch.enforced[key[0]]
            )
        tally = tallies[key]
        tally.add(rkey)
        case.severity = min(case.severity, severity)
        case.report_count += 1
        case.updated_at = now
        _score(case, tally, item=item, now=now)
        if key in new_cases and case.report_count == 1:
            sla.enter_state(case, workflow, previous=None, now=now)
        scores.append((case.priority, case.priority_band))
    return _Folded(new_cases=new_cases, scores=scores)


def _write_rows(
    session: Session, *, batch: _Batch, folded: _Folded, now: datetime
) -> list[tuple[int, dict[str, Any]]]:
    """Write the cases and reports, a statement a table; each item's report id and row."""
    cases, new_cases = batch.cases, folded.new_cases
    if new_cases:
        for name in {case["workflow_name"] for case in new_cases.values()}:
            register_definition(session, batch.workflows[name])
        for key, id in zip(new_cases, reserve_ids(session, _CASES, len(new_cases)), strict=True):
            cases[key].id, cases[key].reference = id, case_reference(case_id=id, now=now)
        session.execute(
            _INSERT_CASES,
            [
                {"id": cases[key].id, "reference": cases[key].reference, **fixed}
                | _values(cases[key], opening=True)
                for key, fixed in new_cases.items()
            ],
        )
    if updated := [case for key, case in cases.items() if key not in new_cases]:
        session.execute(_UPDATE_CASES, [{"case_id": case.id, **_values(case)} for case in updated])
        for case in updated:
            expire_cached(session, Case, case.id)  # an ORM copy loaded earlier is out of date
    rows = [
        _report_row(item, clause, case_id=cases[key].id, reporter_key=rkey, now=now)
        for item, clause, key, rkey in zip(
            batch.items, batch.claimed, batch.keys, batch.reporter_keys, strict=True
        )
    ]
    reports = list(zip(reserve_ids(session, _REPORTS, len(rows)), rows, strict=True))
    session.execute(_INSERT_REPORTS, [{"id": id, **row} for id, row in reports])
    return reports


def _record(
    session: Session,
    *,
    batch: _Batch,
    folded: _Folded,
    reports: list[tuple[int, dict[str, Any]]],
    actor: Actor,
    now: datetime,
) -> list[IntakeOutcome]:
    """Each report's trail event and reporter acknowledgement; what became of each item."""
    events: list[NewEvent] = []
    outcomes: list[IntakeOutcome] = []
    seen_keys: set[tuple[int, str]] = set()
    for item, clause, matches, (routed, _), key, (report_id, report), (score, band) in zip(
        batch.items,
        batch.claimed,
        batch.matches,
        batch.routes,
        batch.keys,
        reports,
        folded.scores,
        strict=True,
    ):
        case = batch.cases[key]
        opened = key in folded.new_cases and key not in seen_keys
        seen_keys.add(key)
        events.append(
            NewEvent(
                case=case,
                type=EventType.intake if opened else EventType.report_attached,
                actor=actor.label,
                payload=_report_payload(item, report_id, report, clause, case, score, band),
            )
        )
        if matches:
            events.append(
                NewEvent(
                    case=case,
                    type=EventType.hash_matched,
                    actor=actor.label,
                    payload={
                        "report_id": report_id,
                        "matches": [match.record() for match in matches],
                        "sent_under": clause.id,
                        "routed_to": routed.id,
                    },
                )
            )
        if item.reporter_email:
            enqueue_job(
                session,
                job="notify_reporter",
                args={"case_id": case.id, "report_id": report_id, "kind": "acknowledgement"},
                case_id=case.id,
            )
        outcomes.append(
            IntakeOutcome(
                report_id=report_id,
                policy_clause=clause.id,
                payload_sha256=report["payload_sha256"],
                received_at=now,
                case_id=case.id,
                reference=case.reference,
                workflow=case.workflow_name,
                state=case.state,
                priority=score,
                priority_band=band,
                opened=opened,
                restricted=batch.workflows[case.workflow_name].restricted,
                session=session,
            )
        )
    events.extend(_renaming_events(batch, reports=reports, actor=actor))
    append_events(session, events, at=now)
    return outcomes


def _renaming_events(
    batch: _Batch, *, reports: list[tuple[int, dict[str, Any]]], actor: Actor
) -> list[NewEvent]:
    """A `subject_updated` event on each case the batch reached about a subject whose display
    name it changed, naming the report that gave the new name."""
    if not batch.renamed:
        return []
    named_by: dict[SubjectKey, int] = {}
    for item, (report_id, _) in zip(batch.items, reports, strict=True):
        subject = (item.subject.kind, item.subject.external_id)
        replacing, filling = subject_names(item)
        if subject in batch.renamed and batch.renamed[subject][1] in (
            replacing.get("display"),
            filling.get("display"),
        ):
            named_by[subject] = report_id
    events: list[NewEvent] = []
    reached: set[tuple[int, str]] = set()
    for item, key in zip(batch.items, batch.keys, strict=True):
        subject = (item.subject.kind, item.subject.external_id)
        if subject not in batch.renamed or key in reached:
            continue
        reached.add(key)
        old, new = batch.renamed[subject]
        events.append(
            NewEvent(
                case=batch.cases[key],
                type=EventType.subject_updated,
                actor=actor.label,
                payload={
                    "subject": {"kind": subject[0], "id": subject[1]},
                    "display": {"from": old, "to": new},
                    "report_id": named_by[subject],
                },
            )
        )
    return events


def _values(case: _CaseRow, *, opening: bool = False) -> dict[str, Any]:
    """The columns intake changes on a case; `opening` adds the SLA clock a new case starts."""
    values = {
        "severity": case.severity,
        "report_count": case.report_count,
        "reporter_count": case.reporter_count,
        "priority": case.priority,
        "priority_band": case.priority_band,
        "updated_at": case.updated_at,
    }
    if opening:
        values |= {
            "sla_due_at": case.sla_due_at,
            "sla_paused_at": case.sla_paused_at,
            "sla_remaining_seconds": case.sla_remaining_seconds,
            "sla_breached": case.sla_breached,
        }
    return values


def _score(case: _CaseRow, tally: _Tally, *, item: IntakeItem, now: datetime) -> None:
    """Recompute the case's score and band after `item` (the SLA follows the band)."""
    result = priority(
        severity=case.severity,
        source=item.source,
        top_score=item.moderation.top_score if item.moderation else 0,
        reporters=tally.count,
        anonymous=tally.anonymous,
        prior_enforced=tally.prior_enforced,
        opened_at=case.opened_at,
        now=now,
    )
    case.reporter_count = tally.count
    case.priority = result.score
    case.priority_band = result.band


def contact_exempt(clause: Clause) -> bool:
    """Whether a notice under `clause` is complete without the sender's name and email."""
    # DSA Art. 16(2)(c): name and email are part of a notice, except for child sexual abuse.
    return clause.workflow == "child_safety"


def _lacks_notice_contact(item: IntakeItem, clause: Clause) -> bool:
    if item.source != ReportSource.user_report or contact_exempt(clause):
        return False
    return not (item.reporter_name and item.reporter_email)


def _new_case(
    *, subject_id: int, workflow: Workflow, clause: Clause, severity: int, now: datetime
) -> tuple[_CaseRow, dict[str, Any]]:
    """A case to open: the columns intake goes on to change, and those it sets once."""
    initial = get_state(workflow, workflow.initial)
    case = _CaseRow(
        id=None,
        reference="",  # DK-<year>-<id>, once the id is reserved
        subject_id=subject_id,
        workflow_name=workflow.name,
        state=initial.name,
        severity=severity,
        report_count=0,
        reporter_count=0,
        priority=0,
        priority_band="p4",
        opened_at=now,
        updated_at=now,
    )
    fixed = {
        "subject_id": subject_id,
        "workflow_name": workflow.name,
        "workflow_version": workflow.version,
        "workflow_digest": workflow.digest,
        "state": initial.name,
        "stage": initial.stage,
        "queue": initial.queue,
        "policy_clause": clause.id,
        "restricted": workflow.restricted,
        "opened_at": now,
        "intake_at": now,
    }
    return case, fixed


def _report_row(
    item: IntakeItem, clause: Clause, *, case_id: int, reporter_key: str, now: datetime
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "source": item.source,
        "source_name": item.source_name,
        "policy_clause": clause.id,
        "location": item.location,
        "explanation": item.explanation,
        "reporter_name": item.reporter_name,
        "reporter_email": item.reporter_email,
        "reporter_key": reporter_key,
        "good_faith": item.good_faith,
        "lacks_notice_contact": _lacks_notice_contact(item, clause),
        "content_ref": item.content_ref,
        "moderation_scores": item.moderation.scores if item.moderation else {},
        "occurred_at": item.occurred_at,
        "raw_payload": item.raw_payload,
        "payload_sha256": hashlib.sha256(item.raw_payload.encode("utf-8")).hexdigest(),
        "api_key_id": item.api_key_id,
        "received_at": now,
    }


def _report_payload(
    item: IntakeItem,
    report_id: int,
    report: dict[str, Any],
    clause: Clause,
    case: _CaseRow,
    score: int,
    band: str,
) -> dict:
    """What the trail keeps of a report (personal data lives here, so erasure can remove it)."""
    payload: dict[str, Any] = {
        "report_id": report_id,
        "source": item.source.value,
        "source_name": item.source_name,
        "policy_clause": clause.id,
        "workflow": case.workflow_name,
        "subject": {"kind": item.subject.kind, "id": item.subject.external_id},
        "payload_sha256": report["payload_sha256"],
        "priority": {"score": score, "band": band},
    }
    if item.moderation is not None:
        payload["moderation"] = {"scores": item.moderation.scores, "model": item.moderation.model}
    if item.source == ReportSource.user_report:
        payload["notice"] = {
            "location": item.location,
            "explanation": item.explanation,
            "reporter_name": item.reporter_name,
            "reporter_email": item.reporter_email,
            "good_faith": item.good_faith,
            "lacks_notice_contact": report["lacks_notice_contact"],
        }
    return payload
