import pytest
from sqlmodel import select

from cases.core.security import PermissionDenied, has_permission, require_permission
from cases.enums import Permission as P
from cases.enums import Role
from tests.factories import make_user
from tests.helpers import csrf_token, login

# The whole table, written out: a change to the model must change this test on purpose.
ALLOWED = {
    Role.admin: set(P),
    Role.lead: {
        P.view_cases,
        P.work_cases,
        P.reassign_cases,
        P.view_audit,
        P.export_evidence,
        P.view_transparency,
        P.manage_inquiries,
    },
    Role.reviewer: {P.view_cases, P.work_cases},
    Role.child_safety: {
        P.view_cases,
        P.view_restricted,
        P.work_cases,
        P.work_restricted,
        P.export_evidence,
    },
    Role.auditor: {
        P.view_cases,
        P.view_restricted,
        P.view_audit,
        P.export_evidence,
        P.view_transparency,
    },
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(P))
def test_role_permission_table(role, permission):
    expected = permission in ALLOWED[role]
    assert has_permission(role, permission) is expected
    if expected:
        require_permission(role, permission)
    else:
        with pytest.raises(PermissionDenied, match=role.value):
            require_permission(role, permission)


def test_unknown_role_has_no_permission():
    assert not has_permission("superuser", P.view_cases)


@pytest.mark.parametrize("role", list(Role))
def test_only_admins_reach_user_administration(client, session, role):
    user = make_user(session, role=role)
    session.commit()
    login(client, user.email)
    assert client.get("/admin/users").status_code == (200 if role == Role.admin else 403)


def test_admin_changes_a_role_and_it_is_recorded(client, session):
    from cases.models import AccountEvent, User

    admin = make_user(session, role="admin")
    target = make_user(session, role="reviewer")
    session.commit()
    login(client, admin.email)
    token = csrf_token(client, "/admin/users")
    response = client.post(
        f"/admin/users/{target.id}/role",
        data={f"u{target.id}-role": "lead", f"u{target.id}-csrf_token": token},
    )
    assert response.status_code == 302
    session.expire_all()
    assert session.get(User, target.id).role == "lead"
    event = session.exec(
        select(AccountEvent).where(
            AccountEvent.user_id == target.id, AccountEvent.type == "role_changed"
        )
    ).one()
    assert event.actor_id == admin.id
    assert event.detail == {"from": "reviewer", "to": "lead", "sessions_ended": 0}
    page = client.get("/admin/users").get_data(as_text=True)
    assert f"{admin.email} changed {target.email}" in page


def test_role_change_without_csrf_token_is_rejected(client, session):
    from cases.models import User

    admin = make_user(session, role="admin")
    target = make_user(session, role="reviewer")
    session.commit()
    login(client, admin.email)
    response = client.post(f"/admin/users/{target.id}/role", data={f"u{target.id}-role": "admin"})
    assert response.status_code == 400
    session.expire_all()
    assert session.get(User, target.id).role == "reviewer"
