"""Factories for realistic test data. Each takes a session and commits nothing."""

import itertools

from sqlmodel import Session

from cases.accounts import create_api_key, create_user
from cases.definitions import definitions, register_definition
from cases.enums import ApiScope, Role
from cases.models import ApiKey, Case, Subject, User

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


def make_case(
    session: Session,
    *,
    workflow: str = "standard",
    state: str = "new",
    stage: str = "intake",
    restricted: bool = False,
    subject_id: str | None = None,
) -> Case:
    """A case row as intake would open it (for tests of lower layers; intake has its own),
    running on the deployment's current definition of `workflow`."""
    number = next(_counter)
    subject = Subject(kind="account", external_id=subject_id or f"user-{number}")
    session.add(subject)
    session.flush()
    definition = definitions().current(workflow)
    register_definition(session, definition)
    case = Case(
        reference=f"DK-2026-{number:06d}",
        subject_id=subject.id,
        workflow_name=workflow,
        workflow_version=definition.version,
        workflow_digest=definition.digest,
        state=state,
        stage=stage,
        restricted=restricted,
    )
    session.add(case)
    session.flush()
    return case
