"""Internal notes on a case: each one is a `note` event on the trail, nothing else."""

from sqlmodel import Session

from cases.core.security import PermissionDenied, require_permission
from cases.enums import EventType, Permission
from cases.lifecycle.actors import Actor
from cases.models import Case
from cases.trail.models import CaseEvent
from cases.trail.store import append_event

MAX_NOTE = 5000


def add_note(session: Session, *, case: Case, actor: Actor, text: str) -> CaseEvent:
    """Record a staff member's note on `case` (those who may work it; auditors change nothing)."""
    if actor.user is None:
        raise PermissionDenied("only staff write notes")
    require_permission(
        actor.user.role, Permission.work_restricted if case.restricted else Permission.work_cases
    )
    text = text.strip()
    if not text or len(text) > MAX_NOTE:
        raise ValueError(f"a note has 1 to {MAX_NOTE} characters")
    return append_event(
        session, case=case, type=EventType.note, actor=actor.label, payload={"text": text}
    )
