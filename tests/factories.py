"""Factories for realistic test data. Each takes a session and commits nothing."""

import itertools

from sqlmodel import Session

from cases.accounts import create_api_key, create_user
from cases.enums import ApiScope, Role
from cases.models import ApiKey, User

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def make_user(session: Session, *, role: str = Role.reviewer, email: str | None = None) -> User:
    email = email or f"{role.replace('_', '-')}{next(_counter)}@example.org"
    return create_user(session, email=email, password=PASSWORD, role=role, name=f"Test {role}")


def make_api_key(session: Session, *, scopes: list[str] | None = None) -> tuple[ApiKey, str]:
    return create_api_key(
        session,
        name=f"integration-{next(_counter)}",
        scopes=scopes if scopes is not None else [s.value for s in ApiScope],
    )
