"""The private pages and their forms are public endpoints: rate-limited per client."""

import pytest

from cases.models import Appeal
from tests.helpers import count, csrf_token, fresh


@pytest.fixture
def config_overrides(config_overrides) -> dict:
    return {**config_overrides, "RATELIMIT_ENABLED": True, "RATELIMIT_PUBLIC": "2 per minute"}


def test_appeal_posts_beyond_the_limit_get_429(app, client, session, open_case, decided, link_to):
    path = link_to(decided(open_case()))
    token = csrf_token(client, "/report")

    def appeal(grounds: str):
        data = {"grounds": grounds, "csrf_token": token}
        return client.post(f"{path}/appeal", data=data, content_type="multipart/form-data")

    assert appeal("").status_code == 422  # refused posts count too
    assert appeal("The quotes were from a film.").status_code == 303
    assert appeal("Once more.").status_code == 429
    assert count(fresh(session), Appeal) == 1
    # Another client has a budget of its own.
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert other.get(path).status_code == 200
