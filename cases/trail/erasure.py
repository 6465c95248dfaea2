"""Erasing personal data from a case's trail without breaking its chain (no Flask).

Payload and salt go; the salted commitment stays in each header, so the chain still verifies, and
an `erased` event records that it happened, when, why and by whom. Held cases cannot be erased.
"""

from datetime import datetime

from sqlmodel import Session, col, delete, select

from cases.core.sqltypes import utcnow
from cases.enums import EventType
from cases.models import Hold
from cases.trail.models import CaseEvent, EventPayload
from cases.trail.store import CaseLike, append_event


class ErasureRefused(Exception):
    """The case is under a legal or preservation hold."""


def active_holds(session: Session, *, case_id: int, now: datetime | None = None) -> list[Hold]:
    """Holds on the case that have not yet expired."""
    now = now or utcnow()
    return list(session.exec(select(Hold).where(Hold.case_id == case_id, Hold.until > now)))


def erase_payload(
    session: Session, *, case: CaseLike, actor: str, reason: str, now: datetime | None = None
) -> CaseEvent:
    """Delete the payloads of every event of `case` so far and append an `erased` event."""
    holds = active_holds(session, case_id=case.id, now=now)
    if holds:
        until = max(hold.until for hold in holds)
        raise ErasureRefused(
            f"case {case.reference} is under a {holds[0].kind} hold until {until:%Y-%m-%d}; "
            "its evidence cannot be erased"
        )
    event_ids = select(CaseEvent.id).where(CaseEvent.case_id == case.id)
    last_seq = session.exec(
        select(CaseEvent.seq)
        .where(CaseEvent.case_id == case.id)
        .order_by(col(CaseEvent.seq).desc())
    ).first()
    session.exec(delete(EventPayload).where(col(EventPayload.event_id).in_(event_ids)))
    return append_event(
        session,
        case=case,
        type=EventType.erased,
        actor=actor,
        payload={"reason": reason, "through_seq": last_seq or 0},
    )
