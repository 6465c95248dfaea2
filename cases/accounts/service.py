"""Staff accounts and API keys: creation, login with lockout, role changes. Never commits."""

from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, select

from cases.core.errors import InputInvalid
from cases.core.security import check_password, hash_api_key, hash_password, new_api_key
from cases.core.sqltypes import utcnow
from cases.enums import AccountEventType, ApiScope, Role
from cases.models import AccountEvent, ApiKey, User

MIN_PASSWORD_LENGTH = 10
# Compared against when the email is unknown, so a miss costs what a hit costs.
_DUMMY_HASH = hash_password("docket-timing-equaliser")


class AccountError(InputInvalid):
    """Bad input for an account change; `field` names the form field at fault."""


class LoginRefused(Exception):
    """Wrong credentials or a locked account; the message is safe to show."""


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
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if get_user_by_email(session, email=email):
        raise AccountError(f"a user with email {email} already exists", field="email")
    user = User(email=email, name=name, role=role, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    record_account_event(
        session, type=AccountEventType.created, user=user, actor=actor, detail={"role": role}
    )
    return user


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    max_failures: int,
    lock_minutes: int,
    now: datetime | None = None,
) -> User:
    """Check credentials; count failures and lock the account after `max_failures` in a row."""
    now = now or utcnow()
    user = get_user_by_email(session, email=email)
    if user is None or not user.active:
        check_password(_DUMMY_HASH, password)
        raise LoginRefused("Wrong email or password.")
    if user.locked_until and user.locked_until > now:
        raise LoginRefused(_locked_message(user.locked_until))
    if not check_password(user.password_hash, password):
        user.failed_logins += 1
        record_account_event(session, type=AccountEventType.login_failed, user=user, actor=None)
        if user.failed_logins >= max_failures:
            user.locked_until = now + timedelta(minutes=lock_minutes)
            user.failed_logins = 0
            record_account_event(
                session,
                type=AccountEventType.locked,
                user=user,
                actor=None,
                detail={"until": user.locked_until.isoformat()},
            )
            raise LoginRefused(f"Too many failed attempts. {_locked_message(user.locked_until)}")
        left = max_failures - user.failed_logins
        raise LoginRefused(
            f"Wrong email or password. {left} attempt{'s' if left != 1 else ''} left "
            "before the account is locked."
        )
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    record_account_event(session, type=AccountEventType.login_succeeded, user=user, actor=None)
    return user


def _locked_message(until: datetime) -> str:
    return f"This account is locked until {until:%H:%M} UTC."


def change_role(session: Session, *, user: User, role: str, actor: User) -> User:
    """Change a staff member's role and record old and new role with who changed it."""
    new_role = parse_role(role)
    if user.role == new_role:
        return user
    if user.id == actor.id and new_role != Role.admin:
        raise AccountError("you cannot remove your own admin role", field="role")
    old_role, user.role = user.role, new_role
    record_account_event(
        session,
        type=AccountEventType.role_changed,
        user=user,
        actor=actor,
        detail={"from": old_role, "to": new_role},
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


def create_api_key(
    session: Session, *, name: str, scopes: list[str], actor: User | None = None
) -> tuple[ApiKey, str]:
    """Create an API key; returns the row and the key text, which is never stored or shown again."""
    name = name.strip()
    if not name:
        raise AccountError("an API key needs a name", field="name")
    if session.exec(select(ApiKey).where(ApiKey.name == name)).first():
        raise AccountError(f"an API key named {name!r} already exists", field="name")
    key = new_api_key()
    api_key = ApiKey(
        name=name,
        prefix=key[:10],
        key_hash=hash_api_key(key),
        scopes=parse_scopes(scopes),
        created_by_id=actor.id if actor else None,
    )
    session.add(api_key)
    session.flush()
    record_account_event(
        session,
        type=AccountEventType.api_key_created,
        user=None,
        actor=actor,
        detail={"api_key": api_key.id, "name": name, "scopes": api_key.scopes},
    )
    return api_key, key


def authenticate_api_key(session: Session, *, key: str) -> ApiKey | None:
    """The active key matching `key`, or None for unknown or revoked keys."""
    api_key = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key))).first()
    if api_key is None or api_key.revoked_at is not None:
        return None
    return api_key


def revoke_api_key(session: Session, *, api_key: ApiKey, actor: User | None) -> ApiKey:
    """Revoke a key for good; later requests with it get 401."""
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        record_account_event(
            session,
            type=AccountEventType.api_key_revoked,
            user=None,
            actor=actor,
            detail={"api_key": api_key.id, "name": api_key.name},
        )
    return api_key
