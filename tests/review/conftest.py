"""Staff of every role for the queue and case-page tests."""

import pytest

from cases.models import User
from tests.factories import make_user


@pytest.fixture
def users(session):
    """One staff member per role, created on first use: users("lead")."""
    made: dict[str, User] = {}

    def user(role: str) -> User:
        if role not in made:
            made[role] = make_user(session, role=role)
            session.commit()
        return made[role]

    return user
