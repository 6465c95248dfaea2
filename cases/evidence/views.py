"""Evidence files on the case page: opening one (a POST with a reason, recorded on the trail) and
its chain of custody.

There is no GET that serves a file's bytes: the POST that records the view answers with them.
Script on the case page shows an image in place from that answer; without script the answer is
a page showing the image, or the file as a download. Either way one view is one recorded POST,
and no URL exists that could hand the bytes out again unrecorded (no signed link to leak through
history or logs, nor single-use state to keep across workers). Images always arrive blurred and
greyscale, revealed per item by the viewer.
"""

import base64

from flask import Blueprint, abort, current_app, make_response, render_template, send_file
from flask_login import current_user, login_required
from sqlmodel import Session

from cases.accounts.access import get_case
from cases.core.db import get_session
from cases.core.security import require_permission
from cases.core.sqltypes import utcnow
from cases.core.web import private_page
from cases.enums import Permission
from cases.evidence.forms import ViewForm
from cases.evidence.service import EvidenceItem, EvidenceNotFound
from cases.evidence.viewing import Exposure, custody, exposure, may_open, open_evidence
from cases.lifecycle.actors import Actor
from cases.models import Case

bp = Blueprint("evidence", __name__, url_prefix="/cases")

# Types a browser may be told as they are (the portal accepts only these, sniffed from the bytes);
# anything else goes out as opaque bytes, and every file as a download in a sandbox.
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}
# Raster images a page may show (never SVG, which can carry script).
INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@bp.before_request
@login_required
def require_staff():
    require_permission(current_user.role, Permission.view_cases)


def _case(session: Session, reference: str) -> Case:
    return get_case(session, reference=reference, viewer=current_user)


def current_exposure() -> Exposure:
    """Template helper: the signed-in reviewer's exposure to graphic media over the last day."""
    return exposure(
        get_session(),
        user=current_user,
        now=utcnow(),
        break_after=int(current_app.config["WELLNESS_BREAK_AFTER"]),
    )


def may_open_item(item: EvidenceItem) -> bool:
    """Template helper: may the signed-in staff member open this item's bytes?"""
    return may_open(current_user, item)


def _custody_page(session: Session, case: Case, sha256: str, form: ViewForm, status: int = 200):
    """The file's custody page; with a submitted `form`, only for those who may open the file."""
    try:
        record = custody(session, case=case, sha256=sha256, viewer=current_user)
    except EvidenceNotFound:
        abort(404)
    if form.is_submitted() and not may_open(current_user, record.item):
        abort(404)
    page = render_template("evidence/custody.html", case=case, custody=record, form=form)
    return private_page(make_response(page, status))


@bp.post("/<reference>/evidence/<sha256>/view")
def view(reference: str, sha256: str):
    session = get_session()
    case = _case(session, reference)
    form = ViewForm()
    if not form.validate_on_submit():
        return _custody_page(session, case, sha256, form, status=422)
    try:
        blob, stream = open_evidence(
            session,
            case=case,
            sha256=sha256,
            actor=Actor.staff(current_user),
            reason=form.reason.data,
        )
    except EvidenceNotFound:
        abort(404)
    exposed = current_exposure()  # in the same transaction: this view counts
    session.commit()
    if form.deliver.data == "page" and blob.media_type in INLINE_IMAGES:
        with stream:
            image = base64.b64encode(stream.read()).decode("ascii")
        page = render_template(
            "evidence/view.html",
            case=case,
            blob=blob,
            image=image,
            reason=form.reason.data,
            exposure=exposed,
        )
        return private_page(make_response(page))
    response = send_file(
        stream,
        mimetype=blob.media_type if blob.media_type in EXTENSIONS else "application/octet-stream",
        as_attachment=True,
        # Named by content, never by the uploader's file name (no header tricks, no clashes).
        download_name=f"evidence-{blob.sha256[:16]}{EXTENSIONS.get(blob.media_type, '.bin')}",
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    # For the case page's script, which shows the counter and the break prompt without a reload.
    response.headers["Docket-Exposure"] = str(exposed.count)
    response.headers["Docket-Break-Due"] = "1" if exposed.break_due else "0"
    return response


@bp.get("/<reference>/evidence/<sha256>/custody")
def custody_page(reference: str, sha256: str):
    session = get_session()
    return _custody_page(session, _case(session, reference), sha256, ViewForm(formdata=None))


def init_app(app) -> None:
    app.jinja_env.globals.update(
        evidence_exposure=current_exposure,
        evidence_form=lambda: ViewForm(formdata=None),
        evidence_inline_images=INLINE_IMAGES,
        may_open_evidence=may_open_item,
    )
    app.register_blueprint(bp)
