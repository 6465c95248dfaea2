"""Holds on a case: legal holds (placed by leads and admins, and by child-safety specialists on
their restricted cases), preservation after a finished CyberTipline report, and law-enforcement
preservation requests. While one is active, erasure and retention skip what it covers (the case,
its evidence files and, for preservation and law enforcement, the subject's other cases: see
`cases.trail.erasure`). A hold is extended, never shortened; each placement and extension is a
trail event. On an object store with Object Lock, a job after commit also locks the files a hold
covers until its end (`retain_held_files_later`), so that not even the operator's credentials
can delete them before then.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlmodel import Session, col, select

from cases.accounts.access import sees_restricted, visible_cases
from cases.core.forms import CONTROL_CHARACTERS
from cases.core.security import PermissionDenied, has_permission
from cases.core.sqltypes import utcnow
from cases.enums import EventType, HoldKind, Permission, Role
from cases.evidence.blobs import object_store
from cases.jobs.outbox import enqueue_job
from cases.lifecycle.actors import Actor
from cases.models import Case, Hold, User
from cases.trail.canonical import utc_timestamp
from cases.trail.erasure import active_holds, covering_holds, lock_holds
from cases.trail.models import CaseEvent, EventPayload
from cases.trail.store import append_event

# REPORT Act 2024 (18 U.S.C. 2258A(h)): at least one year after a CyberTipline report.
# PRESERVATION_DAYS may lengthen it, never shorten it.
PRESERVATION_PERIOD = timedelta(days=365)
# 18 U.S.C. 2703(f)(2): 90 days, and 90 more on each renewed request (LAW_ENFORCEMENT_HOLD_DAYS).
LAW_ENFORCEMENT_PERIOD = timedelta(days=90)
# The most one placement or extension adds (ten years): a hold is never shortened, so a slip of
# the finger could not be undone; a longer hold is extended again.
MAX_HOLD_DAYS = 3652
REASON_MAX = 2000
REQUEST_REFERENCE_MAX = 120
# Preservation follows a finished CyberTipline report (a job places it); people place these.
PLACED_BY_PEOPLE = (HoldKind.legal, HoldKind.law_enforcement)
RETAIN_FILES_JOB = "retain_held_files"
KIND_LABELS = {
    HoldKind.legal: "legal hold",
    HoldKind.preservation: "preservation hold (CyberTipline report)",
    HoldKind.law_enforcement: "law-enforcement preservation request",
}


class HoldError(ValueError):
    """A hold request that would shorten a hold or is otherwise invalid."""


class HoldSettingsError(ValueError):
    """A hold period is configured below what the law requires, or is not a number of days."""


@dataclass(frozen=True)
class HoldChange:
    """A placement or extension, as the trail recorded it."""

    type: str  # hold_placed | hold_extended
    at: datetime
    by: str  # staff email, or the trail's actor label
    until: datetime
    reason: str
    request_reference: str | None


@dataclass(frozen=True)
class HoldRow:
    hold: Hold
    label: str
    active: bool
    changes: list[HoldChange]


@dataclass(frozen=True)
class CaseHolds:
    """What the case page shows about holds (template `child_safety/_case_holds.html`)."""

    rows: list[HoldRow]  # placed on this case, newest first
    reaching: list[tuple[Hold, Case]]  # active holds on the subject's other cases covering it
    held_until: datetime | None  # the case cannot be erased before then (None: not held)
    may_manage: bool
    law_enforcement_days: int


def _configured_days(config: Mapping, name: str, floor: timedelta, why: str) -> timedelta:
    value = config[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise HoldSettingsError(f"{name} must be a whole number of days, not {value!r}")
    if not floor.days <= value <= MAX_HOLD_DAYS:
        raise HoldSettingsError(
            f"{name} is {value}: {why} requires at least {floor.days} days (it can be configured "
            f"upwards only, to at most {MAX_HOLD_DAYS})"
        )
    return timedelta(days=value)


def check_hold_settings(config: Mapping) -> None:
    """Refuse hold periods shorter than the law requires (run when the app starts)."""
    preservation_period(config=config)
    law_enforcement_period(config=config)


def preservation_period(*, config: Mapping | None = None) -> timedelta:
    """How long a case is preserved after its CyberTipline report (PRESERVATION_DAYS)."""
    return _configured_days(
        current_app.config if config is None else config,
        "PRESERVATION_DAYS",
        PRESERVATION_PERIOD,
        "preservation after a CyberTipline report (18 U.S.C. 2258A(h))",
    )


def law_enforcement_period(*, config: Mapping | None = None) -> timedelta:
    """How long a law-enforcement preservation request, or its renewal, preserves a case."""
    return _configured_days(
        current_app.config if config is None else config,
        "LAW_ENFORCEMENT_HOLD_DAYS",
        LAW_ENFORCEMENT_PERIOD,
        "a law-enforcement preservation request (18 U.S.C. 2703(f))",
    )


def may_manage_holds(user: User, case: Case) -> bool:
    """Leads and admins; on a restricted case, admins and the specialists who work it."""
    if case.restricted and not sees_restricted(user):
        return False
    if user.role in (Role.admin, Role.lead):
        return True
    return case.restricted and has_permission(user.role, Permission.work_restricted)


def require_hold_permission(actor: Actor, case: Case) -> None:
    """PermissionDenied unless `actor` may place and extend holds on `case`."""
    # Jobs, and operators at the server's shell, act without a staff account.
    if actor.user is not None and not may_manage_holds(actor.user, case):
        raise PermissionDenied(f"the {actor.user.role} role may not place holds on this case")


def _text(value: str | None, *, what: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise HoldError(f"give {what}")
    if len(text) > limit:
        raise HoldError(f"{what} must be at most {limit} characters")
    if not CONTROL_CHARACTERS.isdisjoint(text):
        raise HoldError(f"{what} must not contain control characters")
    return text


def _details(reason: str, request_reference: str | None) -> dict:
    details = {"reason": _text(reason, what="the reason", limit=REASON_MAX)}
    if request_reference is not None:
        details["request_reference"] = _text(
            request_reference, what="the request's reference", limit=REQUEST_REFERENCE_MAX
        )
    return details


def _term(kind: str, *, days: int | None, request_reference: str | None) -> timedelta:
    """How much a placement or extension of a `kind` hold adds."""
    if kind == HoldKind.law_enforcement:
        period = law_enforcement_period()
        if days is not None:
            raise HoldError(
                f"a law-enforcement preservation request runs {period.days} days, and each "
                f"renewal adds {period.days}: give the request's reference, not a number of days"
            )
        if request_reference is None:
            raise HoldError("give the law-enforcement request's reference")
        return period
    if request_reference is not None:
        raise HoldError("only a law-enforcement preservation request has a request reference")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_HOLD_DAYS:
        raise HoldError(f"give a number of days from 1 to {MAX_HOLD_DAYS}")
    return timedelta(days=days)


def retain_held_files_later(session: Session, *, case_id: int) -> None:
    """After commit, have the object store lock the files of the holds covering the case until
    their ends (`cases.child_safety.jobs.retain_held_files`, one per held case)."""
    # A local folder has no retention lock: there erasure's own hold check keeps the files.
    if object_store() is None:
        return
    for held in sorted({hold.case_id for hold in covering_holds(session, case_id=case_id)}):
        enqueue_job(session, job=RETAIN_FILES_JOB, args={"case_id": held}, case_id=held)


def _locked(session: Session, hold: Hold) -> Hold:
    return session.exec(
        select(Hold)
        .where(Hold.id == hold.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def place_hold(
    session: Session,
    *,
    case: Case,
    kind: HoldKind,
    reason: str,
    until: datetime,
    actor: Actor,
    now: datetime | None = None,
    request_reference: str | None = None,
) -> Hold:
    """Place a hold on the case until `until`; if one of this kind is active, extend it instead."""
    now = now or utcnow()
    require_hold_permission(actor, case)
    details = _details(reason, request_reference)
    if until <= now:
        raise HoldError("a hold must end in the future")
    # Two people placing a hold at once: the second extends the first's instead of adding one.
    lock_holds(session, case_id=case.id)
    current = [
        hold for hold in active_holds(session, case_id=case.id, now=now) if hold.kind == kind
    ]
    if current:
        return extend_hold(
            session,
            hold=current[0],
            case=case,
            until=until,
            reason=reason,
            actor=actor,
            now=now,
            request_reference=request_reference,
        )
    hold = Hold(
        case_id=case.id,
        kind=kind,
        reason=details["reason"],
        until=until,
        placed_by_id=actor.user_id,
        placed_at=now,
    )
    session.add(hold)
    session.flush()
    append_event(
        session,
        case=case,
        type=EventType.hold_placed,
        actor=actor.label,
        payload={
            "hold_id": hold.id,
            "kind": HoldKind(kind).value,
            "until": utc_timestamp(until),
            **details,
        },
    )
    retain_held_files_later(session, case_id=case.id)
    return hold


def extend_hold(
    session: Session,
    *,
    hold: Hold,
    case: Case,
    until: datetime,
    reason: str,
    actor: Actor,
    now: datetime | None = None,
    request_reference: str | None = None,
) -> Hold:
    """Move an active hold's end later (an earlier end is refused: holds are never shortened)."""
    now = now or utcnow()
    require_hold_permission(actor, case)
    details = _details(reason, request_reference)
    if hold.case_id != case.id:
        raise HoldError(f"hold {hold.id} is not a hold on {case.reference}")
    hold = _locked(session, hold)
    if hold.until <= now:
        raise HoldError(f"this hold ended on {hold.until:%Y-%m-%d}: place a new one")
    if until < hold.until:
        raise HoldError(
            f"the hold runs until {hold.until:%Y-%m-%d}; it can be extended, never shortened"
        )
    if until == hold.until:
        return hold
    previous, hold.until = hold.until, until
    session.add(hold)
    append_event(
        session,
        case=case,
        type=EventType.hold_extended,
        actor=actor.label,
        payload={
            "hold_id": hold.id,
            "kind": HoldKind(hold.kind).value,
            "from": utc_timestamp(previous),
            "until": utc_timestamp(until),
            **details,
        },
    )
    retain_held_files_later(session, case_id=case.id)
    return hold


def place_hold_for_days(
    session: Session,
    *,
    case: Case,
    kind: HoldKind,
    reason: str,
    actor: Actor,
    days: int | None = None,
    request_reference: str | None = None,
    now: datetime | None = None,
) -> Hold:
    """Place a legal hold for `days`, or record a law-enforcement request for its period."""
    now = now or utcnow()
    require_hold_permission(actor, case)
    if kind not in PLACED_BY_PEOPLE:
        raise HoldError("place a legal hold or record a law-enforcement preservation request")
    term = _term(kind, days=days, request_reference=request_reference)
    return place_hold(
        session,
        case=case,
        kind=kind,
        reason=reason,
        until=now + term,
        actor=actor,
        now=now,
        request_reference=request_reference,
    )


def extend_hold_by_days(
    session: Session,
    *,
    hold: Hold,
    case: Case,
    reason: str,
    actor: Actor,
    days: int | None = None,
    request_reference: str | None = None,
    now: datetime | None = None,
) -> Hold:
    """Add `days` to a hold's end, or renew a law-enforcement request for another period."""
    require_hold_permission(actor, case)
    term = _term(hold.kind, days=days, request_reference=request_reference)
    current = _locked(session, hold)
    return extend_hold(
        session,
        hold=current,
        case=case,
        until=current.until + term,
        reason=reason,
        actor=actor,
        now=now,
        request_reference=request_reference,
    )


def find_active_hold(
    session: Session, *, case: Case, kind: HoldKind, now: datetime | None = None
) -> Hold:
    """The case's active hold of `kind` (placing another of a kind extends it, so there is one)."""
    for hold in active_holds(session, case_id=case.id, now=now):
        if hold.kind == kind:
            return hold
    raise HoldError(f"{case.reference} has no active {KIND_LABELS[HoldKind(kind)]}")


def _changes(session: Session, case: Case) -> dict[int, list[HoldChange]]:
    rows = session.exec(
        select(CaseEvent, EventPayload)
        .join(EventPayload, col(EventPayload.event_id) == CaseEvent.id, isouter=True)
        .where(
            CaseEvent.case_id == case.id,
            col(CaseEvent.type).in_([EventType.hold_placed, EventType.hold_extended]),
        )
        .order_by(col(CaseEvent.seq))
    ).all()
    actors = {event.actor for event, _ in rows}
    ids = {int(a[5:]) for a in actors if a.startswith("user:") and a[5:].isdigit()}
    emails = {
        f"user:{user.id}": user.email
        for user in session.exec(select(User).where(col(User.id).in_(sorted(ids))))
    }
    changes: dict[int, list[HoldChange]] = {}
    for event, stored in rows:
        # An erased payload no longer says which hold it was about: the hold's row still does.
        if stored is None:
            continue
        payload = json.loads(stored.payload)
        changes.setdefault(payload["hold_id"], []).append(
            HoldChange(
                type=event.type,
                at=event.at,
                by=emails.get(event.actor, event.actor),
                until=datetime.fromisoformat(payload["until"]),
                reason=payload["reason"],
                request_reference=payload.get("request_reference"),
            )
        )
    return changes


def case_holds(session: Session, *, case: Case, viewer: User, now: datetime) -> CaseHolds:
    """The case's holds and their history for its page, as `viewer` may see them."""
    placed = session.exec(
        select(Hold).where(Hold.case_id == case.id).order_by(col(Hold.placed_at).desc())
    ).all()
    changes = _changes(session, case)
    rows = [
        HoldRow(
            hold=hold,
            label=KIND_LABELS.get(hold.kind, hold.kind),
            active=hold.until > now,
            changes=changes.get(hold.id, []),
        )
        for hold in placed
    ]
    others = [h for h in covering_holds(session, case_id=case.id, now=now) if h.case_id != case.id]
    # A hold on a case the viewer may not see (a restricted one) is not shown, nor its case.
    seen = {
        other.id: other
        for other in session.exec(
            visible_cases(viewer).where(col(Case.id).in_(sorted({h.case_id for h in others})))
        )
    }
    reaching = [(hold, seen[hold.case_id]) for hold in others if hold.case_id in seen]
    ends = [row.hold.until for row in rows if row.active] + [hold.until for hold, _ in reaching]
    return CaseHolds(
        rows=rows,
        reaching=reaching,
        held_until=max(ends, default=None),
        may_manage=may_manage_holds(viewer, case),
        law_enforcement_days=law_enforcement_period().days,
    )
