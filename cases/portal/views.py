"""The private pages (`/my/<token>`) of a reporter or an affected user, their forms, and the staff
route that withdraws a link.

Status tokens are secrets in a path, so they are kept out of request logs and never sent as a
referrer to another site. Every page view and every form sent through a link is a `link_used`
event; a token that is not genuine is a 404, one that expired or was withdrawn a 410 that says
how to get a new one."""

import logging
import re

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user, login_required
from sqlmodel import Session

from cases.accounts.access import get_case
from cases.appeals.service import AppealInvalid, AppealRefused
from cases.core.db import get_session, session_scope
from cases.core.extensions import limiter, public_limit
from cases.core.forms import attachment_hints, attachments_body_limit
from cases.core.security import require_permission
from cases.core.web import body_limit, private_page
from cases.models import AccessRequest, Case, StatusLink
from cases.notices.wording import long_date, long_time
from cases.portal.access import pending_access_request, request_copy
from cases.portal.forms import AnswerForm, AppealForm, RevokeLinkForm
from cases.portal.links import (
    REVOKE_PERMISSION,
    LinkExpired,
    LinkInvalid,
    LinkRevoked,
    link_lifetime,
    read_link,
    record_use,
    revoke_link,
)
from cases.portal.service import (
    NotOffered,
    PortalPage,
    answer_question,
    appeal_through_link,
    own_appeal,
    portal_page,
)
from workflows import TransitionRefused

bp = Blueprint("portal", __name__)

HELP = (
    "If you still need it, write to us quoting the case reference from the message that brought "
    "you the link, and we will send you a new one."
)


@bp.context_processor
def wording() -> dict:
    # Dates in the words of the notices, so that a page and a message never differ.
    return {"long_date": long_date, "long_time": long_time}


def _link(session: Session, token: str) -> StatusLink:
    try:
        return read_link(session, token)
    except LinkExpired:
        abort(
            410,
            description="This link has expired: links to a report or a decision work for "
            f"{link_lifetime().days} days. {HELP}",
        )
    except LinkRevoked:
        abort(410, description=f"This link was withdrawn by our staff. {HELP}")
    except LinkInvalid:
        abort(404, description="This link is not valid. Check that you copied all of it.")


def _render(
    page: PortalPage,
    token: str,
    *,
    access: AccessRequest | None,
    appeal_form: AppealForm | None = None,
    answer_form: AnswerForm | None = None,
    problem: str | None = None,
    status: int = 200,
):
    """The link's page; a form sent with errors is shown with them, `problem` above all."""
    html = render_template(
        "portal/status.html",
        page=page,
        token=token,
        appeal_form=appeal_form or AppealForm(formdata=None),
        answer_form=answer_form or AnswerForm(formdata=None),
        access=access,
        problem=problem,
        **attachment_hints(current_app.config),
    )
    return private_page(make_response(html, status))


def _rerender(session: Session, link: StatusLink, token: str, **kwargs):
    """The page again after a form was refused (nothing of it written)."""
    return _render(
        portal_page(session, link=link),
        token,
        access=pending_access_request(session, link=link),
        **kwargs,
    )


def _back(token: str, endpoint: str = ".status"):
    return redirect(url_for(endpoint, token=token), code=303)


@bp.get("/my/<token>")
@limiter.limit(public_limit)
def status(token: str):
    # A view is recorded, so this GET writes in a transaction of its own.
    with session_scope() as session:
        link = _link(session, token)
        record_use(session, link=link, action="viewed")
        page = portal_page(session, link=link)
        access = pending_access_request(session, link=link)
        session.commit()
    return _render(page, token, access=access)


@bp.post("/my/<token>/appeal")
@body_limit(attachments_body_limit)
@limiter.limit(public_limit)
def appeal(token: str):
    session = get_session()
    link = _link(session, token)
    form = AppealForm()
    if not form.validate_on_submit():
        return _rerender(session, link, token, appeal_form=form, status=422)
    try:
        appeal_through_link(
            session, link=link, grounds=form.grounds.data, attachments=form.attachments.inspected
        )
    except AppealInvalid as exc:
        session.rollback()
        form.grounds.errors.append(str(exc))
        return _rerender(session, link, token, appeal_form=form, status=422)
    except (AppealRefused, TransitionRefused) as exc:
        session.rollback()
        return _rerender(session, link, token, problem=str(exc), status=409)
    session.commit()
    return _back(token, ".appealed")


@bp.get("/my/<token>/appeal")
@limiter.limit(public_limit)
def appealed(token: str):
    """The confirmation of the holder's appeal: its reference, date and what happens next."""
    with session_scope() as session:
        link = _link(session, token)
        filed = own_appeal(session, link=link)
        if filed is None:
            return _back(token)
        record_use(session, link=link, action="viewed")
        reference = session.get(Case, link.case_id).reference
        session.commit()
    page = render_template("portal/appealed.html", appeal=filed, reference=reference, token=token)
    return private_page(make_response(page))


@bp.post("/my/<token>/answer")
@limiter.limit(public_limit)
def answer(token: str):
    session = get_session()
    link = _link(session, token)
    form = AnswerForm()
    if not form.validate_on_submit():
        return _rerender(session, link, token, answer_form=form, status=422)
    try:
        answer_question(session, link=link, answer=form.answer.data)
    except (NotOffered, TransitionRefused) as exc:
        session.rollback()
        return _rerender(session, link, token, problem=str(exc), status=409)
    session.commit()
    flash("Thank you: your answer was passed to the reviewer.", "success")
    return _back(token)


@bp.post("/my/<token>/access")
@limiter.limit(public_limit)
def access(token: str):
    session = get_session()
    link = _link(session, token)
    try:
        asked = request_copy(session, link=link)
    except NotOffered as exc:
        session.rollback()
        return _rerender(session, link, token, problem=str(exc), status=409)
    session.commit()
    flash(
        f"Your request for a copy of your data was recorded: we answer by {asked.due_at:%d %B %Y}.",
        "success",
    )
    return _back(token, ".status")


# --- staff -------------------------------------------------------------------------------------


@bp.post("/cases/<reference>/links/<int:link_id>/revoke")
@login_required
def revoke(reference: str, link_id: int):
    """Withdraw a private link before its time (a lead's or an admin's call)."""
    require_permission(current_user.role, REVOKE_PERMISSION)
    session = get_session()
    case = get_case(session, reference=reference, viewer=current_user)
    link = session.get(StatusLink, link_id)
    if link is None or link.case_id != case.id:
        abort(404)
    form = RevokeLinkForm()
    if not form.validate_on_submit():
        page = render_template("portal/revoke.html", case=case, link=link, form=form)
        return page, 422
    revoke_link(
        session,
        link=link,
        actor=current_user._get_current_object(),
        reason=form.reason.data.strip(),
    )
    session.commit()
    flash("The link was withdrawn: it no longer opens the page.", "success")
    return redirect(url_for("cases.detail", reference=case.reference, _anchor="links"), code=303)


# Request logs must not keep the tokens: anyone holding one sees the case's status.
_TOKEN_IN_PATH = re.compile(r"/my/[^\s\"?/]+")


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
