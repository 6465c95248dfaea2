"""Staff accounts and API keys: creation, roles, deactivation, passwords, keys, and the
append-only record of every change (`account_event`). Never commits.

A change with no staff `actor` comes from the command line (`flask users …`, `flask api-keys …`),
and its record says so (`"via": "cli"`)."""

from dataclasses import dataclass

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, col, select

from cases.accounts.sessions import end_user_sessions
from cases.core.errors import InputInvalid
from cases.core.security import hash_api_key, hash_password, new_api_key
from cases.core.sqltypes import utcnow
from cases.enums import AccountEventType, ApiScope, Role, SessionEndReason
from cases.models import AccountEvent, ApiKey, User

MIN_PASSWORD_LENGTH = 10
# Long enough for any passphrase or manager-generated secret; hashing megabytes is not.
MAX_PASSWORD_LENGTH = 1024
API_KEY_NAME_MAX = 120


class AccountError(InputInvalid):
    """Bad input for an account change; `field` names the form field at fault."""


def record_account_event(
    session: Session,
    *,
    type: AccountEventType,
    user: User | None,
    actor: User | None,
    detail: dict | None = None,
) -> AccountEvent:
    """Append one entry to the account history (the only writer of `account_event`)."""
    event = AccountEvent(
        type=type,
        user_id=user.id if user else None,
        actor_id=actor.id if actor else None,
        detail=detail or {},
    )
    session.add(event)
    return event


def _via(actor: User | None) -> dict:
    return {} if actor else {"via": "cli"}


def normalise_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(str(exc), field="email") from exc


def parse_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise AccountError(
            f"unknown role {role!r}; choose one of {', '.join(Role)}", field="role"
        ) from None


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(
            f"password must be at most {MAX_PASSWORD_LENGTH} characters", field="password"
        )


def get_user_by_email(session: Session, *, email: str) -> User | None:
    """Find a staff account by (normalised) email."""
    return session.exec(select(User).where(User.email == email.strip().lower())).first()


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: str,
    name: str = "",
    actor: User | None = None,
) -> User:
    """Create a staff account with a hashed password and record who created it."""
    email = normalise_email(email)
    role = parse_role(role)
    check_new_password(password)
    if get_user_by_email(session, email=email):
        raise AccountError(f"a user with email {email} already exists", field="email")
    user = User(email=email, name=name, role=role, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    record_account_event(
        session,
        type=AccountEventType.created,
        user=user,
        actor=actor,
        detail={"role": role, **_via(actor)},
    )
    return user


def change_role(session: Session, *, user: User, role: str, actor: User) -> User:
    """Change a staff member's role, end their sessions, and record old and new role."""
    new_role = parse_role(role)
    if user.role == new_role:
        return user
    if user.id == actor.id and new_role != Role.admin:
        raise AccountError("you cannot remove your own admin role", field="role")
    old_role, user.role = user.role, new_role
    ended = end_user_sessions(session, user=user, reason=SessionEndReason.role_changed)
    record_account_event(
        session,
        type=AccountEventType.role_changed,
        user=user,
        actor=actor,
        detail={"from": old_role, "to": new_role, "sessions_ended": ended},
    )
    return user


def deactivate_user(session: Session, *, user: User, actor: User | None) -> bool:
    """Take a staff member's access away and end their open sessions; False if already inactive."""
    if actor is not None and actor.id == user.id:
        raise AccountError("you cannot deactivate your own account", field="user")
    if not user.active:
        return False
    user.active = False
    ended = end_user_sessions(session, user=user, reason=SessionEndReason.deactivated)
    record_account_event(
        session,
        type=AccountEventType.deactivated,
        user=user,
        actor=actor,
        detail={"sessions_ended": ended, **_via(actor)},
    )
    return True


def reactivate_user(session: Session, *, user: User, actor: User | None) -> bool:
    """Give a deactivated staff member access again; False if already active."""
    if user.active:
        return False
    user.active = True
    record_account_event(
        session, type=AccountEventType.reactivated, user=user, actor=actor, detail=_via(actor)
    )
    return True


def set_password(session: Session, *, user: User, password: str, actor: User | None) -> User:
    """Replace a staff member's password and end their open sessions (the old one may be known)."""
    check_new_password(password)
    user.password_hash = hash_password(password)
    ended = end_user_sessions(session, user=user, reason=SessionEndReason.password_changed)
    record_account_event(
        session,
        type=AccountEventType.password_changed,
        user=user,
        actor=actor,
        detail={"sessions_ended": ended, **_via(actor)},
    )
    return user


def list_users(session: Session) -> list[User]:
    """All staff accounts, by email."""
    return list(session.exec(select(User).order_by(User.email)))


def parse_scopes(scopes: list[str]) -> list[str]:
    try:
        return sorted({ApiScope(scope).value for scope in scopes})
    except ValueError as exc:
        raise AccountError(f"{exc}; known scopes: {', '.join(ApiScope)}", field="scopes") from None


def _api_key_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise AccountError("an API key needs a name", field="name")
    if len(name) > API_KEY_NAME_MAX:
        raise AccountError(
            f"an API key's name is at most {API_KEY_NAME_MAX} characters", field="name"
        )
    if not name.isprintable():
        raise AccountError("an API key's name cannot hold control characters", field="name")
    return name


def create_api_key(
    session: Session, *, name: str, scopes: list[str], actor: User | None = None
) -> tuple[ApiKey, str]:
    """Create an API key; returns the row and the key text, which is never stored or shown again."""
    name = _api_key_name(name)
    scopes = parse_scopes(scopes)
    if not scopes:
        raise AccountError("an API key needs at least one scope", field="scopes")
    if get_api_key_by_name(session, name=name):
        raise AccountError(f"an API key named {name!r} already exists", field="name")
    key = new_api_key()
    api_key = ApiKey(
        name=name,
        prefix=key[:10],
        key_hash=hash_api_key(key),
        scopes=scopes,
        created_by_id=actor.id if actor else None,
    )
    session.add(api_key)
    session.flush()
    record_account_event(
        session,
        type=AccountEventType.api_key_created,
        user=None,
        actor=actor,
        detail={"api_key": api_key.id, "name": name, "scopes": api_key.scopes, **_via(actor)},
    )
    return api_key, key


def get_api_key_by_name(session: Session, *, name: str) -> ApiKey | None:
    """The API key called `name` (revoked or not)."""
    return session.exec(select(ApiKey).where(ApiKey.name == name.strip())).first()


def list_api_keys(session: Session) -> list[ApiKey]:
    """Every API key, revoked ones included, newest first."""
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.id).desc())))


# Built once: this runs on every API request, and composing the query costs more than running it.
_ACTIVE_KEY = select(ApiKey).where(
    ApiKey.key_hash == sa.bindparam("key_hash"), col(ApiKey.revoked_at).is_(None)
)


def authenticate_api_key(session: Session, *, key: str) -> ApiKey | None:
    """The active key matching `key`, or None for unknown or revoked keys (checked on every
    request, so a revocation takes effect at once). Keys are random, so a plain SHA-256 finds
    them by index: no slow password hash on the request path."""
    return session.exec(_ACTIVE_KEY, params={"key_hash": hash_api_key(key)}).first()


def revoke_api_key(session: Session, *, api_key: ApiKey, actor: User | None) -> bool:
    """Revoke a key for good (later requests with it get 401); False if it already was."""
    if api_key.revoked_at is not None:
        return False
    api_key.revoked_at = utcnow()
    record_account_event(
        session,
        type=AccountEventType.api_key_revoked,
        user=None,
        actor=actor,
        detail={"api_key": api_key.id, "name": api_key.name, **_via(actor)},
    )
    return True


@dataclass(frozen=True)
class AccountEventPage:
    events: list[AccountEvent]
    next_before: int | None  # the `before` of the next (older) page, if there is one


def list_account_events(
    session: Session,
    *,
    user_id: int | None = None,
    types: tuple[AccountEventType, ...] | None = None,
    before: int | None = None,
    limit: int,
) -> AccountEventPage:
    """The account history, newest first, optionally about one user or of some types; pages by
    keyset (`before` is the last id of the previous page)."""
    statement = select(AccountEvent).order_by(col(AccountEvent.id).desc()).limit(limit + 1)
    if user_id is not None:
        statement = statement.where(AccountEvent.user_id == user_id)
    if types is not None:
        statement = statement.where(col(AccountEvent.type).in_(types))
    if before is not None:
        statement = statement.where(col(AccountEvent.id) < before)
    events = list(session.exec(statement))
    more = len(events) > limit
    events = events[:limit]
    return AccountEventPage(events=events, next_before=events[-1].id if more else None)
