"""Legal and preservation holds: while one is active, a case's evidence cannot be erased.
A hold can be extended, never shortened."""

from datetime import datetime, timedelta

from sqlmodel import Session

from cases.core.sqltypes import utcnow
from cases.enums import EventType, HoldKind
from cases.lifecycle.actors import Actor
from cases.models import Case, Hold
from cases.trail.erasure import active_holds
from cases.trail.store import append_event

# REPORT Act 2024 (18 U.S.C. 2258A(h)): at least one year after a CyberTipline report.
PRESERVATION_PERIOD = timedelta(days=365)


class HoldError(ValueError):
    """A hold request that would shorten a hold or is otherwise invalid."""


def place_hold(
    session: Session,
    *,
    case: Case,
    kind: HoldKind,
    reason: str,
    until: datetime,
    actor: Actor,
    now: datetime | None = None,
) -> Hold:
    """Place a hold on the case until `until`; if one of this kind is active, extend it instead."""
    now = now or utcnow()
    if until <= now:
        raise HoldError("a hold must end in the future")
    current = [
        hold for hold in active_holds(session, case_id=case.id, now=now) if hold.kind == kind
    ]
    if current:
        return extend_hold(
            session, hold=current[0], case=case, until=until, reason=reason, actor=actor
        )
    hold = Hold(
        case_id=case.id,
        kind=kind,
        reason=reason,
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
            "kind": kind.value,
            "reason": reason,
            "until": until.isoformat(),
        },
    )
    return hold


def extend_hold(
    session: Session, *, hold: Hold, case: Case, until: datetime, reason: str, actor: Actor
) -> Hold:
    """Move a hold's end later (an earlier end is refused: holds are never shortened)."""
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
            "from": previous.isoformat(),
            "until": until.isoformat(),
            "reason": reason,
        },
    )
    return hold
