"""The public endpoints are rate-limited per client (RATELIMIT_PUBLIC)."""

import pytest
from sqlalchemy import func, select

from cases.models import Report
from tests.helpers import post_report


@pytest.fixture
def config_overrides(config_overrides) -> dict:
    return {**config_overrides, "RATELIMIT_ENABLED": True, "RATELIMIT_PUBLIC": "2 per minute"}


def report_count(app) -> int:
    with app.extensions["docket.db"].connect() as connection:
        return connection.execute(select(func.count()).select_from(Report)).scalar_one()


# No `session` fixture here: its app context would make the two clients share `g` (and with it
# Flask-WTF's cached CSRF token), which a browser and another browser never do.
def test_report_posts_beyond_the_limit_get_429(app, client):
    assert post_report(client, explanation="").status_code == 400  # refused posts count too
    assert post_report(client).status_code == 302
    response = post_report(client)
    assert response.status_code == 429
    assert report_count(app) == 1
    # Reading the form is not limited, and another client has a budget of its own.
    assert client.get("/report").status_code == 200
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert post_report(other).status_code == 302
    assert report_count(app) == 2
