"""Passwords, API-key hashing and the role → permission table. No Flask here: services use it."""

import hashlib
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from cases.enums import Permission, Role

P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: frozenset(Permission),
    Role.lead: frozenset(
        {
            P.view_cases,
            P.work_cases,
            P.reassign_cases,
            P.view_audit,
            P.export_evidence,
            P.view_transparency,
            P.manage_inquiries,
        }
    ),
    Role.reviewer: frozenset({P.view_cases, P.work_cases}),
    Role.child_safety: frozenset(
        {P.view_cases, P.view_restricted, P.work_cases, P.work_restricted, P.export_evidence}
    ),
    Role.auditor: frozenset(
        {P.view_cases, P.view_restricted, P.view_audit, P.export_evidence, P.view_transparency}
    ),
}


class PermissionDenied(Exception):
    """The actor's role does not carry the permission the action needs."""


def has_permission(role: str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


def require_permission(role: str, permission: Permission) -> None:
    """Raise PermissionDenied unless `role` carries `permission`."""
    if not has_permission(role, permission):
        raise PermissionDenied(f"the {role} role may not {permission.replace('_', ' ')}")


# Werkzeug's scrypt defaults (N=2^15, r=8, p=1); tests lower the cost, never production.
PASSWORD_METHOD = "scrypt"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def check_password(password_hash: str, password: str) -> bool:
    return check_password_hash(password_hash, password)


API_KEY_PREFIX = "dk_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
