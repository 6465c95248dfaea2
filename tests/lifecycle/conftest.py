"""The transition service is driven by actors: staff (through the shared `staff` users) and the
system, inside a request context as views and jobs run it."""

import pytest

from cases.lifecycle.actors import Actor


@pytest.fixture
def ctx(app):
    """An app and request context, as views and jobs run services."""
    with app.test_request_context():
        yield


@pytest.fixture
def actor(ctx, staff):
    """Actors per role (and name), each a staff user created on demand: actor("lead")."""

    def staff_actor(role: str, name: str = "") -> Actor:
        return Actor.staff(staff(role, name))

    return staff_actor
