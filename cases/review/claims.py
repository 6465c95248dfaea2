"""Who is working a case: claiming (with an expiry so abandoned claims return to the queue),
claiming the next case of a queue atomically, releasing, and reassignment by a lead."""

from datetime import datetime, timedelta

from sqlmodel import Session, col, or_

from cases.accounts.access import visible_cases
from cases.core.security import require_permission
from cases.core.sqltypes import utcnow
from cases.enums import EventType, Permission
from cases.lifecycle.actors import Actor
from cases.models import Case, User
from cases.trail.store import append_event

CLAIM_TTL = timedelta(hours=2)


class ClaimConflict(Exception):
    """Someone else holds the claim, or the actor may not take it."""


def _require_worker(actor: Actor, case: Case) -> User:
    if actor.user is None:
        raise ClaimConflict("only staff claim cases")
    require_permission(
        actor.user.role, Permission.work_restricted if case.restricted else Permission.work_cases
    )
    return actor.user


def claim_is_live(case: Case, now: datetime) -> bool:
    return case.assignee_id is not None and (
        case.claim_expires_at is None or case.claim_expires_at > now
    )


def claim_case(session: Session, *, case: Case, actor: Actor, now: datetime | None = None) -> Case:
    """Assign `case` to the actor until the claim expires; refused while another holds it."""
    now = now or utcnow()
    user = _require_worker(actor, case)
    if claim_is_live(case, now) and case.assignee_id != user.id:
        raise ClaimConflict(f"{case.reference} is already claimed by someone else")
    _assign(session, case=case, user=user, actor=actor, now=now, event=EventType.claimed)
    return case


def claim_next(
    session: Session, *, queue: str, actor: Actor, now: datetime | None = None
) -> Case | None:
    """Claim the highest-priority unclaimed case of `queue` this actor may see; None if none.

    `FOR UPDATE SKIP LOCKED` lets concurrent claimers pass each other's candidate rows on
    PostgreSQL; on SQLite the writing transaction already holds the database lock.
    """
    now = now or utcnow()
    if actor.user is None:
        raise ClaimConflict("only staff claim cases")
    require_permission(actor.user.role, Permission.work_cases)
    statement = (
        visible_cases(actor.user)
        .where(
            Case.queue == queue,
            or_(col(Case.assignee_id).is_(None), col(Case.claim_expires_at) <= now),
        )
        .order_by(col(Case.priority).desc(), col(Case.id))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    case = session.exec(statement).first()
    if case is None:
        return None
    return claim_case(session, case=case, actor=actor, now=now)


def release_case(
    session: Session, *, case: Case, actor: Actor, now: datetime | None = None
) -> Case:
    """Give the case back to its queue (its assignee, or a lead)."""
    now = now or utcnow()
    user = _require_worker(actor, case)
    if case.assignee_id is None:
        raise ClaimConflict(f"{case.reference} is not claimed")
    if case.assignee_id != user.id:
        require_permission(user.role, Permission.reassign_cases)
    case.updated_at = now
    end_claim(session, case=case, actor=actor)
    return case


def end_claim(session: Session, *, case: Case, actor: Actor, reason: str | None = None) -> None:
    """End whatever claim the case has (a `released` event), with no permission check: for the
    services that end one as part of a change (an appeal filed goes back to its queue)."""
    if case.assignee_id is None:
        return
    previous = case.assignee_id
    case.assignee_id = None
    case.claim_expires_at = None
    session.add(case)
    append_event(
        session,
        case=case,
        type=EventType.released,
        actor=actor.label,
        payload={"assignee": f"user:{previous}", **({"reason": reason} if reason else {})},
    )


def reassign_case(
    session: Session, *, case: Case, assignee: User, actor: Actor, now: datetime | None = None
) -> Case:
    """A lead hands the case to another staff member who may work it."""
    now = now or utcnow()
    if actor.user is None:
        raise ClaimConflict("only staff reassign cases")
    require_permission(actor.user.role, Permission.reassign_cases)
    if case.restricted:
        # A lead who may not see a restricted case may not move it either.
        require_permission(actor.user.role, Permission.view_restricted)
    if not assignee.active:
        raise ClaimConflict(f"{assignee.email} is deactivated")
    _require_worker(Actor.staff(assignee), case)
    _assign(session, case=case, user=assignee, actor=actor, now=now, event=EventType.reassigned)
    return case


def _assign(
    session: Session, *, case: Case, user: User, actor: Actor, now: datetime, event: EventType
) -> None:
    case.assignee_id = user.id
    case.claim_expires_at = now + CLAIM_TTL
    case.updated_at = now
    session.add(case)
    append_event(
        session,
        case=case,
        type=event,
        actor=actor.label,
        payload={"assignee": f"user:{user.id}", "until": case.claim_expires_at.isoformat()},
    )
