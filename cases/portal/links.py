"""Private status links, through which a reporter or an affected user follows a case without an
account.

Each link is a `StatusLink` row (holder, case, report, issued, expires, revoked); its token is
signed (itsdangerous, keyed by SECRET_KEY) and carries only the row's id, so a link expires with
its row and ends early when a lead revokes it. The affected user's link and each reporter's link
are distinct rows, and a page shows only what its holder may see. Issuing, every use and revoking
are trail events.
"""

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlmodel import Session, col, select

from cases.core.security import require_permission
from cases.core.sqltypes import utcnow
from cases.enums import AppellantKind, EventType, Permission
from cases.lifecycle.actors import Actor
from cases.models import Case, Report, StatusLink, User
from cases.trail.store import append_event

STATUS_LINK_SALT = "docket.status-link.v2"

# A genuine token is a few dozen characters; anything far longer is refused before it is decoded.
TOKEN_MAX_LENGTH = 200

# Who may end a link early: leads and admins (the permission only they hold).
REVOKE_PERMISSION = Permission.reassign_cases


class LinkInvalid(LookupError):
    """The token is malformed, its signature does not match, or its link does not exist."""


class LinkExpired(LinkInvalid):
    """The link was genuine but its time is up (STATUS_LINK_MAX_AGE_DAYS after issue)."""


class LinkRevoked(LinkInvalid):
    """The link was genuine but staff revoked it."""


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=STATUS_LINK_SALT)


def link_lifetime() -> timedelta:
    return timedelta(days=float(current_app.config["STATUS_LINK_MAX_AGE_DAYS"]))


def status_token(link: StatusLink) -> str:
    return _serializer().dumps(link.id)


def link_for_token(token: str) -> str:
    """The absolute URL of a status page, on PUBLIC_BASE_URL: never on a request's Host header,
    and the same from a web request, a CLI command or a worker."""
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path.rstrip("/") or None, url_scheme=base.scheme
    )
    return adapter.build("portal.status", {"token": token}, force_external=True)


def link_url(link: StatusLink) -> str:
    """The absolute private URL of `link`."""
    return link_for_token(status_token(link))


def issue_link(
    session: Session,
    *,
    case: Case,
    holder: AppellantKind,
    report: Report | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> StatusLink:
    """The holder's link to the case: their current one while it is valid for at least the
    appeal window's worth of time, else a new one (a `link_issued` event)."""
    now = now or utcnow()
    if holder == AppellantKind.reporter and (report is None or report.case_id != case.id):
        raise ValueError("a reporter's link names one of the case's reports")
    report_id = report.id if holder == AppellantKind.reporter else None
    current = session.exec(
        select(StatusLink)
        .where(
            StatusLink.case_id == case.id,
            StatusLink.holder == holder,
            StatusLink.report_id == report_id
            if report_id is not None
            else col(StatusLink.report_id).is_(None),
            col(StatusLink.revoked_at).is_(None),
            StatusLink.expires_at > now + link_lifetime() / 2,
        )
        .order_by(col(StatusLink.id).desc())
    ).first()
    if current is not None:
        return current
    link = StatusLink(
        case_id=case.id,
        holder=holder,
        report_id=report_id,
        issued_at=now,
        expires_at=now + link_lifetime(),
    )
    session.add(link)
    session.flush()
    append_event(
        session,
        case=case,
        type=EventType.link_issued,
        actor=(actor or Actor.system("portal")).label,
        payload={
            "link_id": link.id,
            "holder": holder.value,
            "report_id": report_id,
            "expires_at": link.expires_at.isoformat(),
        },
    )
    return link


def read_link(session: Session, token: str, *, now: datetime | None = None) -> StatusLink:
    """The link a token names; LinkInvalid, LinkExpired or LinkRevoked when it cannot be
    honoured."""
    now = now or utcnow()
    if len(token) > TOKEN_MAX_LENGTH:
        raise LinkInvalid("the link is not valid")
    try:
        link_id = _serializer().loads(token)
    except BadSignature:
        raise LinkInvalid("the link is not valid") from None
    link = session.get(StatusLink, link_id) if type(link_id) is int else None
    if link is None or not _consistent(session, link):
        raise LinkInvalid("the link is not valid")
    if link.revoked_at is not None:
        raise LinkRevoked("the link was withdrawn")
    if now >= link.expires_at:
        raise LinkExpired("the link has expired")
    return link


def _consistent(session: Session, link: StatusLink) -> bool:
    """A reporter's link names a report of its own case, so it can never show another case."""
    if link.holder != AppellantKind.reporter:
        return link.report_id is None
    report = session.get(Report, link.report_id) if link.report_id is not None else None
    return report is not None and report.case_id == link.case_id


def record_use(
    session: Session, *, link: StatusLink, action: str, now: datetime | None = None
) -> None:
    """Note a use of the link on the case's trail (`action`: viewed, appealed, answered…)."""
    link.last_used_at = now or utcnow()
    session.add(link)
    append_event(
        session,
        case=session.get(Case, link.case_id),
        type=EventType.link_used,
        actor=f"link:{link.id}",
        payload={"link_id": link.id, "holder": link.holder, "action": action},
    )


def revoke_link(
    session: Session, *, link: StatusLink, actor: User, reason: str, now: datetime | None = None
) -> None:
    """End a link before its time (say, it was forwarded or leaked); the holder's next notice
    brings a new one. Leads and admins only (PermissionDenied)."""
    case = session.get(Case, link.case_id)
    require_permission(actor.role, REVOKE_PERMISSION)
    if case.restricted:
        require_permission(actor.role, Permission.view_restricted)
    if link.revoked_at is not None:
        return
    link.revoked_at = now or utcnow()
    link.revoked_by_id = actor.id
    session.add(link)
    append_event(
        session,
        case=case,
        type=EventType.link_revoked,
        actor=Actor.staff(actor).label,
        payload={"link_id": link.id, "holder": link.holder, "reason": reason},
    )


def case_links(session: Session, *, case: Case) -> list[StatusLink]:
    """Every link issued for the case, newest first (for the case page)."""
    return list(
        session.exec(
            select(StatusLink)
            .where(StatusLink.case_id == case.id)
            .order_by(col(StatusLink.id).desc())
        )
    )
