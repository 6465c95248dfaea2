"""The admin mail page (/admin/mail): the embedded outbox, where messages to people are written
when no mail server is configured, so that what people would receive can be read and its links
followed.

A message's HTML part is served on its own, for a sandboxed frame, under a policy that runs no
script and loads nothing: it was rendered from case data, which people outside supply.
"""

import re

from flask import Blueprint, Flask, abort, current_app, make_response, render_template
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from cases.core.mail import outbox_folder, outbox_mails, read_outbox_mail
from cases.core.security import require_permission
from cases.core.web import private_page
from cases.enums import Permission

bp = Blueprint("notices", __name__, url_prefix="/admin")

MAIL_LIST_LIMIT = 200
HTML_PART_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "sandbox allow-popups allow-popups-to-escape-sandbox; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'none'"
)
URL = re.compile(r"https?://[^\s<>\"']+")
TRAILING_PUNCTUATION = ".,;:!?)"


@bp.before_request
@login_required
def require_admin():
    # The outbox holds messages to every person on every case: the job runners' view (admins).
    require_permission(current_user.role, Permission.view_jobs)


def _mail(name: str):
    try:
        return read_outbox_mail(outbox_folder(current_app), name)
    except FileNotFoundError:
        abort(404, description="There is no such message in the outbox.")


def _part(message, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else None


def linkified(text: str) -> Markup:
    """The text, escaped, with its web addresses as links."""
    pieces, done = [], 0
    for match in URL.finditer(text):
        url = match.group(0).rstrip(TRAILING_PUNCTUATION)
        pieces += [
            escape(text[done : match.start()]),
            Markup('<a href="{0}" rel="noopener noreferrer" target="_blank">{0}</a>').format(url),
        ]
        done = match.start() + len(url)
    pieces.append(escape(text[done:]))
    return Markup("").join(pieces)


@bp.get("/mail")
def mail_index():
    folder = outbox_folder(current_app)
    page = render_template(
        "notices/mail_index.html",
        mails=outbox_mails(folder, limit=MAIL_LIST_LIMIT),
        folder=folder,
        limit=MAIL_LIST_LIMIT,
    )
    return private_page(make_response(page))


@bp.get("/mail/<name>")
def mail_message(name: str):
    message = _mail(name)
    headers = {
        "subject": message["Subject"],
        "date": message["Date"],
        "sender": message["From"],
        "to": message["To"],
        "message_id": message["Message-ID"],
        "case": message["X-Docket-Case"],
    }
    text = _part(message, "plain")
    page = render_template(
        "notices/mail_message.html",
        name=name,
        headers=headers,
        text=linkified(text) if text is not None else None,
        has_html=_part(message, "html") is not None,
    )
    return private_page(make_response(page))


@bp.get("/mail/<name>/html")
def mail_html(name: str):
    html = _part(_mail(name), "html")
    if html is None:
        abort(404, description="This message has no HTML part.")
    response = make_response(html)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = HTML_PART_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"  # framed by the message page only
    return private_page(response)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
