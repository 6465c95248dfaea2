"""Fixtures for the API's contract tests: intake's integration key and JSON poster, a key that
reads and fires transitions, and counts of everything a request could write."""

import pytest
from sqlmodel import func, select

from cases.models import Appeal, Case, IdempotentResponse, Report, Subject
from cases.trail.models import CaseEvent
from tests.factories import make_api_key
from tests.helpers import fresh
from tests.intake.conftest import integration, post_json  # noqa: F401  (fixtures)

WRITTEN = (Report, Case, Subject, CaseEvent, Appeal, IdempotentResponse)


def written(session) -> dict[str, int]:
    """How many rows of each table a request may write exist now."""
    fresh(session)
    return {
        model.__name__: session.exec(select(func.count()).select_from(model)).one()
        for model in WRITTEN
    }


@pytest.fixture
def cases_key(session) -> str:
    _, text = make_api_key(session, scopes=["cases:read", "cases:write", "appeals:write"])
    session.commit()
    return text


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}
