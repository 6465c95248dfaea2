"""/admin/users, /admin/api-keys and /admin/account-events: admins only; every change ends the
right sessions, is recorded, and survives hostile input without a 5xx or half a write."""

import re

import pytest
from sqlmodel import select

from cases.enums import Role
from cases.models import AccountEvent, ApiKey, User
from tests.factories import PASSWORD, make_api_key, make_user
from tests.helpers import count, csrf_token, fresh, login, reloaded

KEY = re.compile(r"<code>(dk_[A-Za-z0-9_-]+)</code>")


@pytest.fixture
def target(session):
    user = make_user(session, role="reviewer", email="rita@example.org")
    session.commit()
    return user


@pytest.fixture
def admin_client(client, signed_in):
    signed_in("admin")
    return client


def token(client) -> str:
    return csrf_token(client, "/")


def history(session, type: str) -> list[AccountEvent]:
    query = select(AccountEvent).where(AccountEvent.type == type).order_by(AccountEvent.id)
    return list(fresh(session).exec(query))


# --- who may -------------------------------------------------------------------------------------

VIEWERS = ["anonymous", "api_key", *[role.value for role in Role]]
PAGES = ["/admin/users", "/admin/api-keys", "/admin/account-events", "/admin/users/{id}/password"]


def become(viewer: str, client, session, signed_in) -> dict:
    """Put `client` in `viewer`'s shoes; returns headers to send."""
    if viewer == "api_key":
        _, key = make_api_key(session)
        session.commit()
        return {"Authorization": f"Bearer {key}"}
    if viewer != "anonymous":
        signed_in(viewer)
    return {}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("viewer", VIEWERS)
def test_only_admins_see_the_pages(client, session, signed_in, target, viewer, page):
    headers = become(viewer, client, session, signed_in)
    response = client.get(page.format(id=target.id), headers=headers)
    if viewer == "admin":
        assert response.status_code == 200
    elif viewer in ("anonymous", "api_key"):
        assert response.status_code == 302 and response.location.startswith("/login")
    else:
        assert response.status_code == 403


ACTIONS = {
    "deactivate": ("/admin/users/{user}/deactivate", {}),
    "reactivate": ("/admin/users/{user}/reactivate", {}),
    "password": ("/admin/users/{user}/password", {"password": "x" * 12, "confirm": "x" * 12}),
    "role": ("/admin/users/{user}/role", {"u{user}-role": "admin"}),
    "create_key": ("/admin/api-keys", {"name": "sneaky", "scopes": "cases:read"}),
    "revoke_key": ("/admin/api-keys/{key}/revoke", {}),
}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("viewer", [v for v in VIEWERS if v != "admin"])
def test_others_change_nothing(client, session, signed_in, target, viewer, action):
    api_key, _ = make_api_key(session)
    session.commit()
    headers = become(viewer, client, session, signed_in)
    csrf = csrf_token(client, "/login" if viewer in ("anonymous", "api_key") else "/")
    events, keys = count(fresh(session), AccountEvent), count(session, ApiKey)
    url, form = ACTIONS[action]
    ids = {"user": target.id, "key": api_key.id}
    data = {name.format(**ids): value for name, value in form.items()}
    response = client.post(url.format(**ids), data={**data, "csrf_token": csrf}, headers=headers)
    if viewer in ("anonymous", "api_key"):
        assert response.status_code == 302 and response.location.startswith("/login")
    else:
        assert response.status_code == 403
    old_hash = target.password_hash
    assert reloaded(session, target).active and target.role == "reviewer"
    assert target.password_hash == old_hash
    assert reloaded(session, api_key).revoked_at is None
    assert (count(session, AccountEvent), count(session, ApiKey)) == (events, keys)


# --- staff accounts ------------------------------------------------------------------------------


def test_admin_deactivates_and_reactivates(app, admin_client, session, target):
    victim = app.test_client()
    login(victim, "rita@example.org")
    assert victim.get("/queues").status_code == 200
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert f"/admin/users/{target.id}/deactivate" in page
    response = admin_client.post(
        f"/admin/users/{target.id}/deactivate", data={"csrf_token": token(admin_client)}
    )
    assert response.status_code == 302
    assert "is deactivated" in admin_client.get("/admin/users").get_data(as_text=True)
    assert victim.get("/queues").status_code == 302
    assert not reloaded(session, target).active
    (event,) = history(session, "deactivated")
    assert event.user_id == target.id and event.actor_id is not None
    assert event.detail == {"sessions_ended": 1}

    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert f"/admin/users/{target.id}/reactivate" in page
    admin_client.post(
        f"/admin/users/{target.id}/reactivate", data={"csrf_token": token(admin_client)}
    )
    assert reloaded(session, target).active
    assert len(history(session, "reactivated")) == 1
    assert login(victim, "rita@example.org").status_code == 302


def test_an_admin_cannot_deactivate_themselves(client, session, signed_in):
    me = signed_in("admin")
    page = client.get("/admin/users").get_data(as_text=True)
    assert f"/admin/users/{me.id}/deactivate" not in page
    client.post(f"/admin/users/{me.id}/deactivate", data={"csrf_token": token(client)})
    assert "cannot deactivate your own account" in client.get("/admin/users").get_data(as_text=True)
    assert reloaded(session, me).active


def test_admin_sets_a_password_and_the_old_sessions_end(app, admin_client, session, target):
    victim = app.test_client()
    login(victim, "rita@example.org")
    url = f"/admin/users/{target.id}/password"
    response = admin_client.post(
        url,
        data={
            "password": "brand new secret",
            "confirm": "brand new secret",
            "csrf_token": token(admin_client),
        },
    )
    assert response.status_code == 302
    assert victim.get("/queues").status_code == 302
    assert login(victim, "rita@example.org", PASSWORD).status_code == 401
    assert login(victim, "rita@example.org", "brand new secret").status_code == 302
    (event,) = history(session, "password_changed")
    assert event.detail == {"sessions_ended": 1}
    assert "brand new secret" not in str(event.detail)


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("short", "short", "at least 10 characters"),
        ("long enough one", "long enough two", "The two passwords differ."),
        ("p" * 1025, "p" * 1025, "at most 1024 characters"),
        ("", "", "This field is required."),
        ("<b>markup</b>!!", "<b>markup</b>!!", None),
    ],
    ids=["short", "mismatch", "huge", "empty", "markup"],
)
def test_password_form_hostile_values(admin_client, session, target, password, confirm, message):
    url = f"/admin/users/{target.id}/password"
    old_hash = target.password_hash
    response = admin_client.post(
        url, data={"password": password, "confirm": confirm, "csrf_token": token(admin_client)}
    )
    changed = reloaded(session, target).password_hash != old_hash
    if message is None:
        assert response.status_code == 302 and changed
    else:
        assert response.status_code == 400 and message in response.get_data(as_text=True)
        assert not changed and history(session, "password_changed") == []


@pytest.mark.parametrize("user_id", ["999999", "-1", "abc", "1" * 40])
def test_unknown_users_are_404(admin_client, user_id):
    assert admin_client.get(f"/admin/users/{user_id}/password").status_code == 404
    for action in ("deactivate", "reactivate", "role"):
        response = admin_client.post(
            f"/admin/users/{user_id}/{action}", data={"csrf_token": token(admin_client)}
        )
        assert response.status_code == 404


@pytest.mark.parametrize("role", ["root", "<script>", "admin\x00", "x" * 5000, ""])
def test_role_form_hostile_values(admin_client, session, target, role):
    response = admin_client.post(
        f"/admin/users/{target.id}/role",
        data={f"u{target.id}-role": role, "csrf_token": token(admin_client)},
    )
    assert response.status_code == 302
    assert "Choose one of the listed roles." in admin_client.get("/admin/users").get_data(
        as_text=True
    )
    assert reloaded(session, target).role == "reviewer"


def test_a_role_change_ends_sessions_from_the_page(app, admin_client, session, target):
    victim = app.test_client()
    login(victim, "rita@example.org")
    admin_client.post(
        f"/admin/users/{target.id}/role",
        data={f"u{target.id}-role": "auditor", "csrf_token": token(admin_client)},
    )
    assert victim.get("/queues").status_code == 302
    assert history(session, "role_changed")[0].detail["sessions_ended"] == 1


# --- API keys ------------------------------------------------------------------------------------


def create_key(client, **data):
    return client.post("/admin/api-keys", data={"csrf_token": token(client), **data})


def test_the_key_is_shown_once_and_works(admin_client, client, session):
    response = create_key(
        admin_client, name="moderation-pipeline", scopes=["detections:write", "cases:read"]
    )
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    (key,) = KEY.findall(page)
    assert "cases:read, detections:write" in page
    assert key not in admin_client.get("/admin/api-keys").get_data(as_text=True)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.get_json()["name"] == "moderation-pipeline"
    stored = fresh(session).exec(select(ApiKey)).one()
    assert key not in str(stored.model_dump())
    (event,) = history(session, "api_key_created")
    assert event.actor_id is not None and event.detail["name"] == "moderation-pipeline"
    assert key not in str(event.detail)


def test_a_revoked_key_is_refused_at_once(admin_client, client, session):
    api_key, key = make_api_key(session)
    session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    listing = admin_client.get("/admin/api-keys").get_data(as_text=True)
    assert api_key.name in listing and f"/admin/api-keys/{api_key.id}/revoke" in listing
    response = admin_client.post(
        f"/admin/api-keys/{api_key.id}/revoke", data={"csrf_token": token(admin_client)}
    )
    assert response.status_code == 302
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    listing = admin_client.get("/admin/api-keys").get_data(as_text=True)
    assert "revoked" in listing and f"/admin/api-keys/{api_key.id}/revoke" not in listing
    assert len(history(session, "api_key_revoked")) == 1
    assert (
        admin_client.post(
            "/admin/api-keys/999999/revoke", data={"csrf_token": token(admin_client)}
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x" * 121, "scopes": "cases:read"}, "at most 120 characters"),
        ({"name": "x" * 100_000, "scopes": "cases:read"}, "at most 120 characters"),
        ({"name": "bad\x00name", "scopes": "cases:read"}, "control characters"),
        ({"name": "   ", "scopes": "cases:read"}, "This field is required."),
        ({"name": "ok-name"}, "Choose at least one scope."),
        ({"name": "ok-name", "scopes": "admin:all"}, "not a valid choice"),
        ({"name": "ok-name", "scopes": ["cases:read", "<script>"]}, "not a valid choice"),
        ({"name": ["a", "b"], "scopes": "x" * 10_000}, "not a valid choice"),
    ],
    ids=[
        "long",
        "huge",
        "nul",
        "blank",
        "no-scope",
        "unknown-scope",
        "markup-scope",
        "wrong-types",
    ],
)
def test_key_form_hostile_values(admin_client, session, data, message):
    response = create_key(admin_client, **data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page and "<script>" not in page.split("<main", 1)[1]
    assert count(fresh(session), ApiKey) == 0 and history(session, "api_key_created") == []


def test_key_names_with_markup_are_shown_escaped(admin_client, session):
    response = create_key(admin_client, name="<img src=x onerror=alert(1)>", scopes="cases:read")
    assert response.status_code == 201
    listing = admin_client.get("/admin/api-keys").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in listing and "<img src=x" not in listing


def test_a_duplicate_key_name_is_refused(admin_client, session):
    assert create_key(admin_client, name="crm", scopes="cases:read").status_code == 201
    response = create_key(admin_client, name="crm", scopes="cases:read")
    assert response.status_code == 400 and "already exists" in response.get_data(as_text=True)
    assert count(fresh(session), ApiKey) == 1


# --- users page history --------------------------------------------------------------------------


def test_the_users_page_lists_recent_changes(admin_client, session, target):
    admin_client.post(
        f"/admin/users/{target.id}/deactivate", data={"csrf_token": token(admin_client)}
    )
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert "deactivated rita@example.org" in page and 'href="/admin/account-events"' in page
    assert fresh(session).get(User, target.id).active is False
