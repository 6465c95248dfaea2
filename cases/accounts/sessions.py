"""Server-side staff sessions. The cookie carries a random token and the database its SHA-256, so
a session ends on sign-out, deactivation or a role or password change, whatever the cookie says,
and a copied cookie is worth nothing once it has."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from cases.core.sqltypes import utcnow
from cases.enums import SessionEndReason
from cases.models import StaffSession, User

# Recording every request would turn each page view into a write; a minute is precise enough
# for an idle timeout counted in tens of minutes.
TOUCH_INTERVAL = timedelta(minutes=1)


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Resumed:
    user: User
    session_id: str
    stale: bool  # last seen more than TOUCH_INTERVAL ago: record this visit (touch_session)


def start_session(session: Session, *, user: User, now: datetime | None = None) -> str:
    """Open a server-side session for `user`; returns its token, of which only a hash is kept."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(id=session_id(token), user_id=user.id, created_at=now, last_seen_at=now)
    )
    return token


def resume_session(
    session: Session,
    *,
    token: str,
    user_id: int,
    lifetime: timedelta,
    idle: timedelta,
    now: datetime | None = None,
) -> Resumed | None:
    """The active user of the open session `token`, or None if it was ended, has lasted or idled
    too long, or belongs to someone else."""
    now = now or utcnow()
    found = session.exec(
        select(StaffSession, User)
        .join(User, col(User.id) == StaffSession.user_id)
        .where(StaffSession.id == session_id(token))
    ).first()
    if found is None:
        return None
    row, user = found
    if (
        row.user_id != user_id
        or row.ended_at is not None
        or not user.active
        or now - row.created_at >= lifetime
        or now - row.last_seen_at >= idle
    ):
        return None
    return Resumed(user=user, session_id=row.id, stale=now - row.last_seen_at >= TOUCH_INTERVAL)


def touch_session(session: Session, *, session_id: str, now: datetime | None = None) -> None:
    """Record that the open session was used now."""
    session.execute(
        update(StaffSession)
        .where(col(StaffSession.id) == session_id, col(StaffSession.ended_at).is_(None))
        .values(last_seen_at=now or utcnow())
    )


def end_session(
    session: Session, *, token: str, reason: SessionEndReason, now: datetime | None = None
) -> StaffSession | None:
    """End the session `token` (if open); returns its row."""
    row = session.get(StaffSession, session_id(token))
    if row is not None and row.ended_at is None:
        row.ended_at = now or utcnow()
        row.ended_reason = reason
    return row


def end_user_sessions(
    session: Session, *, user: User, reason: SessionEndReason, now: datetime | None = None
) -> int:
    """End every open session of `user`; returns how many were open."""
    result = session.execute(
        update(StaffSession)
        .where(col(StaffSession.user_id) == user.id, col(StaffSession.ended_at).is_(None))
        .values(ended_at=now or utcnow(), ended_reason=reason)
    )
    return result.rowcount
