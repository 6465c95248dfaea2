"""What the auditor's workspace reads: the cases a viewer may see (searched or browsed), the chain
of custody of evidence, the signed log's state; and verification, recorded as it is done.

Custody is read from the trail itself, not from working tables: every view, export and
CyberTipline upload of a file is an event naming the file's SHA-256 in its hashed header, so
what this page shows is exactly what `trail verify` vouches for, erasures included.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from cases.accounts.access import Viewer, get_case, visible_cases
from cases.accounts.service import record_account_event
from cases.enums import AccountEventType, EventType
from cases.lifecycle.actors import Actor
from cases.models import Case, Subject, User
from cases.review.search import search_cases
from cases.trail.audit import pending_integration, verify_trail
from cases.trail.blobs import BlobStore
from cases.trail.events import TrailError
from cases.trail.models import CaseEvent, Checkpoint, EventPayload
from cases.trail.store import append_event, current_root, log_size

# Text search returns its best matches at once, not pages: the auditor pages through at most
# this many of them (its newest-report window makes more rarely useful; precise words find more).
SEARCH_LIMIT = 500
RECENT_CHECKPOINTS = 10
CUSTODY_EVENTS = (EventType.evidence_viewed, EventType.exported, EventType.ncmec_file_uploaded)


# --- cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRow:
    case: Case
    subject: Subject
    matched: str | None  # how the text search found it (None when browsing)


@dataclass(frozen=True)
class CaseListing:
    rows: list[CaseRow]
    next_after: int | None  # the cursor of the next page (None: this is the last)


def find_cases(
    session: Session,
    *,
    viewer: Viewer,
    query: str = "",
    clause: str | None = None,
    state: str | None = None,
    after: int | None = None,
    limit: int,
) -> CaseListing:
    """Cases `viewer` may see under `clause` in `state`, newest first, `limit` at a time after
    case id `after`: every such case, or those the staff search finds for `query`."""
    if query:
        hits = search_cases(session, query=query, viewer=viewer, limit=SEARCH_LIMIT)
        rows = sorted(
            (
                CaseRow(hit.case, hit.subject, hit.matched)
                for hit in hits
                if (clause is None or hit.case.policy_clause == clause)
                and (state is None or hit.case.state == state)
                and (after is None or hit.case.id < after)
            ),
            key=lambda row: row.case.id,
            reverse=True,
        )[: limit + 1]
    else:
        statement = visible_cases(viewer)
        if clause is not None:
            statement = statement.where(Case.policy_clause == clause)
        if state is not None:
            statement = statement.where(Case.state == state)
        if after is not None:
            statement = statement.where(col(Case.id) < after)
        cases = session.exec(statement.order_by(col(Case.id).desc()).limit(limit + 1)).all()
        ids = {case.subject_id for case in cases}
        subjects = {s.id: s for s in session.exec(select(Subject).where(col(Subject.id).in_(ids)))}
        rows = [CaseRow(case, subjects[case.subject_id], None) for case in cases]
    more = len(rows) > limit
    return CaseListing(rows[:limit], rows[limit - 1].case.id if more else None)


# --- custody ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustodyFile:
    sha256: str
    name: str | None  # as the case's evidence records it; None once erased or withheld


@dataclass(frozen=True)
class CustodyEntry:
    event_id: int
    reference: str
    seq: int
    type: EventType
    at: datetime
    actor: str  # the trail's label: `user:<id>`, `system:<job>`, `operator:<login>`
    who: str  # the staff member's email, else the label
    role: str | None
    files: tuple[CustodyFile, ...]
    why: str | None  # the stated reason, bundle or CyberTipline report; None once erased


@dataclass(frozen=True)
class CustodyPage:
    entries: list[CustodyEntry]
    next_after: int | None


def custody_log(
    session: Session,
    *,
    viewer: Viewer,
    case: Case | None = None,
    after: int | None = None,
    limit: int,
) -> CustodyPage:
    """Who viewed, exported or reported to NCMEC which evidence, when and why, newest first,
    `limit` at a time after event id `after`: across the cases `viewer` may see, or of `case`."""
    statement = visible_cases(
        viewer,
        select(CaseEvent, EventPayload, Case.reference)
        .join(Case, col(Case.id) == CaseEvent.case_id)
        .join(EventPayload, col(EventPayload.event_id) == CaseEvent.id, isouter=True)
        .where(col(CaseEvent.type).in_(CUSTODY_EVENTS)),
    )
    if case is not None:
        statement = statement.where(CaseEvent.case_id == case.id)
    if after is not None:
        statement = statement.where(col(CaseEvent.id) < after)
    rows = session.exec(statement.order_by(col(CaseEvent.id).desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    payloads = [json.loads(stored.payload) if stored else None for _, stored, _ in rows]
    names = _evidence_names(session, {event.case_id for event, _, _ in rows})
    people = _people(session, {event.actor for event, _, _ in rows})
    entries = []
    for (event, _, reference), payload in zip(rows, payloads, strict=True):
        who, role = people.get(event.actor, (event.actor, None))
        blobs = json.loads(event.header)["blobs"]
        entries.append(
            CustodyEntry(
                event_id=event.id,
                reference=reference,
                seq=event.seq,
                type=EventType(event.type),
                at=event.at,
                actor=event.actor,
                who=who,
                role=role,
                files=tuple(CustodyFile(sha, names.get((event.case_id, sha))) for sha in blobs),
                why=_why(EventType(event.type), payload),
            )
        )
    return CustodyPage(entries, entries[-1].event_id if more else None)


def _why(type: EventType, payload: dict | None) -> str | None:
    if payload is None:
        return None
    match type:
        case EventType.evidence_viewed:
            return payload.get("reason")
        case EventType.exported:
            withheld = payload.get("withheld") or 0
            kept_back = f"; {withheld} restricted file(s) withheld" if withheld else ""
            return f"evidence bundle {payload.get('bundle', '?')}{kept_back}"
        case _:
            return (
                f"CyberTipline report {payload.get('ncmec_report_id', '?')}, "
                f"NCMEC file id {payload.get('file_id', '?')}"
            )


def _evidence_names(session: Session, case_ids: set[int]) -> dict[tuple[int, str], str]:
    """(case id, SHA-256) → the file name its `evidence_added` event records. A file whose name
    was erased, or withheld as restricted media on an ordinary case, has none."""
    if not case_ids:
        return {}
    rows = session.exec(
        select(CaseEvent.case_id, CaseEvent.header, EventPayload.payload)
        .join(EventPayload, col(EventPayload.event_id) == CaseEvent.id)
        .where(col(CaseEvent.case_id).in_(case_ids), CaseEvent.type == EventType.evidence_added)
        .order_by(col(CaseEvent.case_id), col(CaseEvent.seq))
    )
    names: dict[tuple[int, str], str] = {}
    for case_id, header, payload in rows:
        filename = json.loads(payload).get("filename")
        for sha in json.loads(header)["blobs"]:
            if filename:
                names.setdefault((case_id, sha), filename)
    return names


def _people(session: Session, labels: set[str]) -> dict[str, tuple[str, str]]:
    """Staff actor labels (`user:<id>`) → (email, role)."""
    ids = {int(label[5:]) for label in labels if label.startswith("user:") and label[5:].isdigit()}
    if not ids:
        return {}
    users = session.exec(select(User).where(col(User.id).in_(ids)))
    return {f"user:{user.id}": (user.email, user.role) for user in users}


# --- the log ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogState:
    size: int
    root: str  # hex, of the log as committed now
    latest: Checkpoint | None
    recent: list[Checkpoint]  # newest first, the latest among them
    pending: int  # events appended, not yet integrated
    overdue: str | None  # set when some have waited longer than the configured delay


def log_state(session: Session, *, pending_alert: timedelta) -> LogState:
    """The log's size and root now, its newest signed checkpoints, and what awaits integration."""
    size, root = current_root(session)
    pending, overdue = pending_integration(session, older_than=pending_alert)
    recent = list(
        session.exec(
            select(Checkpoint).order_by(col(Checkpoint.id).desc()).limit(RECENT_CHECKPOINTS)
        )
    )
    return LogState(
        size=size,
        root=root.hex(),
        latest=recent[0] if recent else None,
        recent=recent,
        pending=pending,
        overdue=overdue,
    )


# --- verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyOutcome:
    reference: str | None  # None: the whole trail
    ok: bool
    lines: list[str]  # every check that passed, or the first failure
    log_size: int
    checkpoint: Checkpoint | None  # the newest checkpoint, whose root the log was checked against

    @property
    def scope(self) -> str:
        return self.reference or "the whole trail"


def verify_and_record(
    session: Session,
    *,
    reading: Session,
    viewer: User,
    reference: str | None,
    verifier_key: str,
    store: BlobStore,
    pending_alert: timedelta,
) -> VerifyOutcome:
    """Verify case `reference` (one `viewer` may see) or the whole trail in the snapshot
    `reading`, and record the result in `session`: on the case's trail, or in the account
    history for the whole trail (which has no chain of its own)."""
    if reference is not None:
        get_case(reading, reference=reference, viewer=viewer)
    checkpoint = reading.exec(select(Checkpoint).order_by(col(Checkpoint.id).desc())).first()
    size = log_size(reading)
    try:
        report = verify_trail(
            reading,
            verifier_key=verifier_key,
            store=store,
            case_ref=reference,
            pending_alert=pending_alert,
        )
        ok, lines = True, report.lines()
    except TrailError as exc:
        ok, lines = False, [str(exc)]
    outcome = VerifyOutcome(reference, ok, lines, size, checkpoint)
    checked = {
        "log_size": size,
        "checkpoint_size": checkpoint.size if checkpoint else None,
        "root": checkpoint.root if checkpoint else None,
    }
    checked |= {"checks": len(lines)} if ok else {"failure": lines[0]}
    if reference is None:
        record_account_event(
            session,
            type=AccountEventType.trail_verified,
            user=None,
            actor=viewer,
            detail={"ok": ok, **checked},
        )
    else:
        append_event(
            session,
            case=get_case(session, reference=reference, viewer=viewer),
            type=EventType.verified,
            actor=Actor.staff(viewer).label,
            payload={"result": "ok" if ok else "failed", **checked},
        )
    return outcome
