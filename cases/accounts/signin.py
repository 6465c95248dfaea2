"""Staff sign-in and sign-out. Never commits.

One answer for an unknown email, a wrong password and a deactivated account, so the form tells
nobody which emails have accounts. Repeated failures are throttled per (account, client) and per
client, never per account alone: a stranger hammering someone's email from elsewhere slows and
then blocks only themselves, and the account's owner still signs in from their own client. Every
attempt, throttled ones included, is an account event; the password never is."""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil

from sqlalchemy import delete
from sqlmodel import Session, col, func, select

from cases.accounts.service import get_user_by_email, record_account_event
from cases.accounts.sessions import end_session, start_session
from cases.core.security import check_password, hash_password
from cases.core.sqltypes import utcnow
from cases.enums import AccountEventType, SessionEndReason
from cases.models import AccountEvent, LoginAttempt, StaffSession, User

# Compared against when the email is unknown, so a miss costs what a hit costs.
_DUMMY_HASH = hash_password("docket-timing-equaliser")
INCORRECT = "Email or password is incorrect."
# The first wait after LOGIN_FAILURES_BEFORE_DELAY failures; each further failure doubles it.
DELAY_BASE = timedelta(seconds=2)
MAX_DOUBLINGS = 30  # already years: keeps the arithmetic finite whatever the settings say
FAILED_TYPES = (AccountEventType.login_failed, AccountEventType.login_throttled)


class LoginRefused(Exception):
    """Wrong credentials; the message is safe to show."""


class LoginThrottled(LoginRefused):
    """Too many recent failures from this client; try again after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginPolicy:
    window: timedelta
    failures_before_delay: int
    failures_before_block: int
    client_failures_before_block: int

    @classmethod
    def from_config(cls, config: Mapping) -> "LoginPolicy":
        return cls(
            window=timedelta(seconds=int(config["LOGIN_THROTTLE_SECONDS"])),
            failures_before_delay=int(config["LOGIN_FAILURES_BEFORE_DELAY"]),
            failures_before_block=int(config["LOGIN_FAILURES_BEFORE_BLOCK"]),
            client_failures_before_block=int(config["LOGIN_CLIENT_FAILURES_BEFORE_BLOCK"]),
        )


def client_key(address: str, *, secret: str) -> str:
    """A salted hash of the client's address: attempts from one client are counted together
    without keeping the address itself."""
    salt = hashlib.sha256(b"docket sign-in client\x00" + secret.encode()).digest()
    return hmac.new(salt, address.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str  # for the session cookie; the database keeps only its hash
    failures: int  # failed attempts on the account since its previous sign-in
    last_failure_at: datetime | None


def sign_in(
    session: Session,
    *,
    email: str,
    password: str,
    client: str,
    policy: LoginPolicy,
    replaces: str | None = None,
    now: datetime | None = None,
) -> SignedIn:
    """Check credentials under the throttle, record the attempt, and open a server-side session
    (ending the browser's previous one, `replaces`). Raises LoginThrottled or LoginRefused; either
    way the caller commits the record."""
    now = now or utcnow()
    typed = email.strip().lower()
    user = get_user_by_email(session, email=typed)
    detail = {"client": client, "account": user is not None}
    if user is None:
        detail["email"] = typed
    throttled = _throttle(session, email=typed, client=client, policy=policy, now=now)
    if throttled is not None:
        reason, wait = throttled
        seconds = max(1, ceil(wait.total_seconds()))
        record_account_event(
            session,
            type=AccountEventType.login_throttled,
            user=user,
            actor=None,
            detail={**detail, "reason": reason, "retry_after": seconds},
        )
        raise LoginThrottled(_throttled_message(seconds), retry_after=seconds)
    matches = check_password(user.password_hash if user else _DUMMY_HASH, password)
    succeeded = bool(user and user.active and matches)
    session.add(LoginAttempt(email=typed[:320], client=client, succeeded=succeeded, at=now))
    if not succeeded:
        if user is not None:
            detail["reason"] = "inactive" if not user.active else "wrong_password"
        record_account_event(
            session, type=AccountEventType.login_failed, user=user, actor=None, detail=detail
        )
        raise LoginRefused(INCORRECT)
    failures, last_failure_at = _failures_since(session, user=user, since=user.last_login_at)
    user.last_login_at = now
    record_account_event(
        session, type=AccountEventType.login_succeeded, user=user, actor=None, detail=detail
    )
    if replaces:
        end_session(session, token=replaces, reason=SessionEndReason.replaced, now=now)
    token = start_session(session, user=user, now=now)
    return SignedIn(user=user, token=token, failures=failures, last_failure_at=last_failure_at)


def sign_out(session: Session, *, user: User, token: str | None) -> None:
    """End the session `token` on the server, so its cookie is refused even if it was copied."""
    if token:
        end_session(session, token=token, reason=SessionEndReason.logged_out)
    record_account_event(session, type=AccountEventType.logged_out, user=user, actor=None)


def _throttle(
    session: Session, *, email: str, client: str, policy: LoginPolicy, now: datetime
) -> tuple[str, timedelta] | None:
    """Why and for how long this client must wait before trying `email` again, or None."""
    since = now - policy.window
    client_failures = _failure_times(session, LoginAttempt.client == client, since=since)
    if len(client_failures) >= policy.client_failures_before_block:
        # Blocked until enough of the window's failures have aged out of it.
        oldest = client_failures[len(client_failures) - policy.client_failures_before_block]
        return "client_blocked", oldest + policy.window - now
    # Signing in resets the account's count for this client (its owner got the password right).
    last_success = session.exec(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email,
            LoginAttempt.client == client,
            col(LoginAttempt.succeeded).is_(True),
            LoginAttempt.at > since,
        )
    ).one()
    failures = _failure_times(
        session,
        LoginAttempt.email == email,
        LoginAttempt.client == client,
        since=max(since, last_success) if last_success else since,
    )
    if len(failures) >= policy.failures_before_block:
        oldest = failures[len(failures) - policy.failures_before_block]
        return "account_blocked", oldest + policy.window - now
    if len(failures) >= policy.failures_before_delay:
        doublings = min(len(failures) - policy.failures_before_delay, MAX_DOUBLINGS)
        delay = min(DELAY_BASE * 2**doublings, policy.window)
        if now < failures[-1] + delay:
            return "delayed", failures[-1] + delay - now
    return None


def _failure_times(session: Session, *conditions, since: datetime) -> list[datetime]:
    # Bounded: once blocked, a client's attempts are refused before they are recorded here.
    return list(
        session.exec(
            select(LoginAttempt.at)
            .where(*conditions, col(LoginAttempt.succeeded).is_(False), LoginAttempt.at > since)
            .order_by(LoginAttempt.at)
        )
    )


def _throttled_message(seconds: int) -> str:
    wait = f"{seconds} seconds" if seconds < 120 else f"{ceil(seconds / 60)} minutes"
    return f"Too many failed sign-in attempts from this device or network. Try again in {wait}."


def _failures_since(
    session: Session, *, user: User, since: datetime | None
) -> tuple[int, datetime | None]:
    statement = select(func.count(), func.max(AccountEvent.at)).where(
        AccountEvent.user_id == user.id, col(AccountEvent.type).in_(FAILED_TYPES)
    )
    if since is not None:
        statement = statement.where(AccountEvent.at > since)
    count, last = session.exec(statement).one()
    return count, last


def prune_sign_in_records(
    session: Session, *, window: timedelta, lifetime: timedelta, now: datetime | None = None
) -> tuple[int, int]:
    """Delete the attempts older than the throttle window and the sessions older than their
    lifetime: nothing reads them any more (account events keep the history). Returns how many."""
    now = now or utcnow()
    attempts = session.execute(delete(LoginAttempt).where(col(LoginAttempt.at) < now - window))
    sessions = session.execute(
        delete(StaffSession).where(col(StaffSession.created_at) < now - lifetime)
    )
    return attempts.rowcount, sessions.rowcount
