"""Who may see which case: restricted (child-safety) cases are filtered out in the query itself,
so they are invisible by URL, API and search to anyone not cleared for them."""

from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from cases.core.security import has_permission
from cases.enums import Permission
from cases.models import ApiKey, Case, User

Viewer = User | ApiKey


class CaseNotFound(LookupError):
    """No such case, or not one this viewer may see (the two are indistinguishable on purpose)."""


def sees_restricted(viewer: Viewer) -> bool:
    # Integrations never see child-safety cases; staff need the permission.
    return isinstance(viewer, User) and has_permission(viewer.role, Permission.view_restricted)


def visible_cases(viewer: Viewer, statement: SelectOfScalar | None = None) -> SelectOfScalar:
    """`statement` (default: all cases) narrowed to what `viewer` may see."""
    statement = statement if statement is not None else select(Case)
    return statement if sees_restricted(viewer) else statement.where(Case.restricted.is_(False))


REFERENCE_MAX = 32


def get_case(session: Session, *, reference: str, viewer: Viewer) -> Case:
    """The case with this reference, if the viewer may see it; else CaseNotFound."""
    # No reference is longer than the column or holds a NUL (which PostgreSQL refuses to compare).
    if len(reference) > REFERENCE_MAX or "\x00" in reference:
        raise CaseNotFound(f"no case {reference[:REFERENCE_MAX]!r}")
    case = session.exec(visible_cases(viewer).where(Case.reference == reference)).first()
    if case is None:
        raise CaseNotFound(f"no case {reference}")
    return case
