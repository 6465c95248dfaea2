"""Private status links, through which a reporter or an affected user follows a case without an
account.

A status link carries a signed, expiring token (itsdangerous, keyed by SECRET_KEY) naming who holds
it: a reporter (by report id) or the affected user (by case id). Nothing is stored per link, so a
link cannot be revoked early; it lasts STATUS_LINK_MAX_AGE_DAYS, longer than the appeal window."""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from cases.enums import AppellantKind
from cases.models import Case, Report

STATUS_LINK_SALT = "docket.status-link"


class LinkInvalid(LookupError):
    """The token is malformed or its signature does not match."""


class LinkExpired(LinkInvalid):
    """The token was genuine but is older than STATUS_LINK_MAX_AGE_DAYS."""


@dataclass(frozen=True)
class LinkHolder:
    """Who a status link was issued to: a reporter (`id` a report) or the affected user (a case)."""

    role: AppellantKind
    id: int


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=STATUS_LINK_SALT)


def link_lifetime() -> timedelta:
    return timedelta(days=float(current_app.config["STATUS_LINK_MAX_AGE_DAYS"]))


def status_token(holder: LinkHolder) -> str:
    return _serializer().dumps({"role": holder.role.value, "id": holder.id})


def link_for_token(token: str) -> str:
    """The absolute URL of a status page, on PUBLIC_BASE_URL: never on a request's Host header,
    and the same from a web request, a CLI command or a worker."""
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path.rstrip("/") or None, url_scheme=base.scheme
    )
    return adapter.build("portal.status", {"token": token}, force_external=True)


def status_link(report: Report) -> str:
    """The reporter's private link to the status of `report`."""
    return link_for_token(status_token(LinkHolder(AppellantKind.reporter, report.id)))


def affected_user_link(case: Case) -> str:
    """The affected user's private link to the decision on `case` and how to appeal it."""
    return link_for_token(status_token(LinkHolder(AppellantKind.affected_user, case.id)))


def read_status_token(token: str) -> LinkHolder:
    """Whom the token was issued to; LinkExpired or LinkInvalid when it cannot be honoured."""
    max_age = int(link_lifetime().total_seconds())
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkExpired("the link has expired") from None
    except BadSignature:
        raise LinkInvalid("the link is not valid") from None
    try:
        return LinkHolder(role=AppellantKind(data["role"]), id=int(data["id"]))
    except (KeyError, TypeError, ValueError):
        raise LinkInvalid("the link is not valid") from None
