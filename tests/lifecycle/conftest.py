import json

import pytest

from cases.enums import ReportSource
from cases.intake.moderation import parse_moderation
from cases.intake.service import IntakeItem, SubjectRef, receive
from cases.lifecycle.actors import Actor
from tests.factories import make_user


def detection(category: str = "harassment", score: float = 0.93, subject: str = "acct-1"):
    body = {
        "model": "omni-moderation-latest",
        "results": [
            {"flagged": True, "categories": {category: True}, "category_scores": {category: score}}
        ],
    }
    return IntakeItem(
        source=ReportSource.classifier,
        subject=SubjectRef("account", subject),
        raw_payload=json.dumps(body),
        moderation=parse_moderation(body),
        source_name="moderation-pipeline",
    )


@pytest.fixture
def ctx(app):
    """An app and request context, as views and jobs run services."""
    with app.test_request_context():
        yield


@pytest.fixture
def open_case(ctx, session):
    """Open a case through intake, as production does; returns a factory."""

    def opener(category: str = "harassment", subject: str = "acct-1"):
        outcome = receive(
            session, item=detection(category, subject=subject), actor=Actor.system("test")
        )
        session.commit()
        return outcome.case

    return opener


@pytest.fixture
def staff(session):
    """Actors per role, created on demand."""
    made = {}

    def actor(role: str, name: str = "") -> Actor:
        key = (role, name)
        if key not in made:
            made[key] = Actor.staff(make_user(session, role=role))
            session.commit()
        return made[key]

    return actor
