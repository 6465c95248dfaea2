import pytest

from cases.accounts.service import revoke_api_key
from cases.models import ApiKey
from tests.factories import make_api_key


@pytest.fixture
def key(session):
    api_key, key = make_api_key(session, scopes=["detections:write"])
    session.commit()
    return api_key, key


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def assert_error(response, status: int, code: str):
    assert response.status_code == status
    assert response.is_json, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def test_me_answers_with_name_and_scopes(client, key):
    api_key, text = key
    response = client.get("/api/v1/me", headers=bearer(text))
    assert response.status_code == 200
    assert response.get_json() == {
        "name": api_key.name,
        "scopes": ["detections:write"],
        "prefix": text[:10],
    }


def test_only_the_hash_is_stored(session, key):
    api_key, text = key
    stored = session.get(ApiKey, api_key.id)
    assert text not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer dk_not-a-real-key"},
    ],
)
def test_missing_or_unknown_key_is_401_json(client, key, headers):
    assert_error(client.get("/api/v1/me", headers=headers), 401, "unauthorized")


def test_revoked_key_is_401(client, session, key):
    api_key, text = key
    revoke_api_key(session, api_key=session.get(ApiKey, api_key.id), actor=None)
    session.commit()
    error = assert_error(client.get("/api/v1/me", headers=bearer(text)), 401, "unauthorized")
    assert "revoked" in error["message"]


def test_unknown_route_and_wrong_method_are_json(client, key):
    assert_error(client.get("/api/v1/no-such-thing"), 404, "not_found")
    response = client.delete("/api/v1/me", headers=bearer(key[1]))
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_oversized_body_is_413(app, client, key):
    body = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post(
        "/api/v1/me", data=body, headers={**bearer(key[1]), "Content-Type": "application/json"}
    )
    assert_error(response, 413, "request_entity_too_large")
    page = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert page.status_code == 413 and "too large" in page.get_data(as_text=True)
