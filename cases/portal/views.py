"""The private status page (`/my/<token>`) of a reporter or an affected user.

Status tokens are secrets in a path, so they are kept out of request logs and never sent as a
referrer to another site."""

import logging
import re

from flask import Blueprint, Flask, abort, make_response, render_template

from cases.core.db import get_session
from cases.core.extensions import limiter, public_limit
from cases.core.web import private_page
from cases.enums import AppellantKind
from cases.models import Case, Report
from cases.portal.links import (
    LinkExpired,
    LinkHolder,
    LinkInvalid,
    link_lifetime,
    read_status_token,
)
from cases.portal.service import affected_user_view, reporter_view

bp = Blueprint("portal", __name__)


def _holder(token: str) -> LinkHolder:
    try:
        return read_status_token(token)
    except LinkExpired:
        abort(
            410,
            description="This link has expired. Links to a report or a decision work "
            f"for {link_lifetime().days} days; contact us quoting your reference.",
        )
    except LinkInvalid:
        abort(404, description="This link is not valid. Check that you copied all of it.")


@bp.get("/my/<token>")
@limiter.limit(public_limit)
def status(token: str):
    holder = _holder(token)
    session = get_session()
    if holder.role == AppellantKind.reporter:
        report = session.get(Report, holder.id)
        view = reporter_view(session, report=report) if report else None
    else:
        case = session.get(Case, holder.id)
        view = affected_user_view(session, case=case) if case else None
    if view is None:
        abort(404, description="There is nothing to show for this link.")
    page = render_template("portal/status.html", role=holder.role.value, view=view)
    return private_page(make_response(page))


# Request logs must not keep the tokens: anyone holding one sees the case's status.
_TOKEN_IN_PATH = re.compile(r"/my/[^\s\"?]+")


class RedactStatusTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/my/" in message:
            record.msg, record.args = _TOKEN_IN_PATH.sub("/my/[redacted]", message), ()
        return True


LOGGERS_WITH_PATHS = ("werkzeug", "gunicorn.access", "cases.core.errors")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    for name in LOGGERS_WITH_PATHS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactStatusTokens) for f in logger.filters):
            logger.addFilter(RedactStatusTokens())
