"""Demo data for a new installation: one account per role, printed with its password."""

from collections.abc import Iterator

from sqlmodel import Session

from cases.accounts import create_user, get_user_by_email
from cases.enums import Role

DEMO_PASSWORD = "docket-demo-password"


def seed_demo(session: Session) -> Iterator[str]:
    """Create what is missing and say what exists; never duplicates."""
    yield f"Demo staff accounts (password for each: {DEMO_PASSWORD}):"
    for role in Role:
        email = f"{role.value.replace('_', '-')}@docket.example"
        if get_user_by_email(session, email=email):
            yield f"  {email:32} {role.value:13} (already there)"
            continue
        create_user(
            session,
            email=email,
            password=DEMO_PASSWORD,
            role=role,
            name=f"Demo {role.value.replace('_', ' ')}",
        )
        yield f"  {email:32} {role.value:13} created"
