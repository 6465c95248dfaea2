"""The auditor's workspace: the cases an auditor may see with their whole trail, the chain of
custody of evidence, the signed log and how to pin its key, verification of a case or the whole
trail, and evidence bundles to take away and verify offline.

It changes nothing. Its two POSTs are reads that leave a record: a verification (an event on the
case's trail, or an account event for the whole trail) and an export (the trail's `exported`
event). Every response is private (no-store): it shows cases, and bundles hold their evidence.
"""

import shutil
import tempfile
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    after_this_request,
    current_app,
    render_template,
    request,
    send_file,
)
from flask_login import current_user, login_required

from cases.accounts.access import CaseNotFound, get_case
from cases.audit.forms import CaseSearchForm, CustodyFilterForm, ExportForm, VerifyForm
from cases.audit.service import (
    custody_log,
    find_cases,
    log_state,
    verify_and_record,
)
from cases.audit.signing import pending_alert, signer
from cases.core.db import get_engine, get_session, session_scope, snapshot
from cases.core.security import require_permission
from cases.core.sqltypes import utcnow
from cases.core.web import private_page
from cases.enums import Permission
from cases.evidence.blobs import blob_store
from cases.evidence.service import withheld_evidence
from cases.review.case_page import case_page
from cases.trail.events import TrailError
from cases.trail.export import export_case
from cases.trail.signed_notes import CheckpointError

bp = Blueprint("audit", __name__, url_prefix="/audit")

PUBLIC_KEY_FILE = "docket.pub"


@bp.before_request
@login_required
def auditors_only():
    require_permission(current_user.role, Permission.view_audit)


@bp.after_request
def never_cached(response):
    return private_page(response)


def _page_size() -> int:
    return current_app.config["QUEUE_PAGE_SIZE"]


def _index(*, verify_form=None, export_form=None, result=None, export_error=None, status=200):
    session = get_session()
    search = CaseSearchForm(request.args)
    listing = None
    if search.validate():
        listing = find_cases(
            session,
            viewer=current_user,
            query=search.q.data or "",
            clause=search.clause.data or None,
            state=search.state.data or None,
            after=search.after.data,
            limit=_page_size(),
        )
    elif status == 200:
        status = 400
    return render_template(
        "audit/index.html",
        search=search,
        listing=listing,
        log=log_state(session, pending_alert=pending_alert()),
        public_key=signer().verifier_key,
        public_key_file=PUBLIC_KEY_FILE,
        verify_form=verify_form or VerifyForm(prefix="verify"),
        export_form=export_form or ExportForm(prefix="export"),
        result=result,
        export_error=export_error,
    ), status


@bp.get("/")
def index():
    return _index()


@bp.get("/cases/<reference>")
def case(reference: str):
    session = get_session()
    found = get_case(session, reference=reference, viewer=current_user)
    return render_template(
        "audit/case.html",
        page=case_page(session, case=found, viewer=current_user, now=utcnow()),
        public_key_file=PUBLIC_KEY_FILE,
    )


def _custody(form: CustodyFilterForm):
    session = get_session()
    case, page, status = None, None, 200
    if not form.validate():
        status = 400
    elif form.case.data:
        try:
            case = get_case(session, reference=form.case.data, viewer=current_user)
        except CaseNotFound as exc:
            form.case.errors.append(str(exc))
            status = 404
    if status == 200:
        page = custody_log(
            session, viewer=current_user, case=case, after=form.after.data, limit=_page_size()
        )
    return render_template("audit/custody.html", form=form, case=case, page=page), status


@bp.get("/custody")
def custody():
    return _custody(CustodyFilterForm(request.args))


@bp.get("/cases/<reference>/custody")
def case_custody(reference: str):
    form = CustodyFilterForm(request.args)
    form.case.data = reference
    return _custody(form)


@bp.post("/verify")
def verify():
    form = VerifyForm(prefix="verify")
    if not form.validate_on_submit():
        return _index(verify_form=form, status=400)
    session = get_session()
    try:
        # A snapshot of its own: consistent while appends go on, and no write lock held while
        # it reads; the record of it is written in the request's transaction once it is done.
        with session_scope(snapshot(get_engine())) as reading:
            result = verify_and_record(
                session,
                reading=reading,
                viewer=current_user._get_current_object(),
                reference=form.reference.data or None,
                verifier_key=signer().verifier_key,
                store=blob_store(),
                pending_alert=pending_alert(),
            )
    except CaseNotFound as exc:
        form.reference.errors.append(str(exc))
        return _index(verify_form=form, status=404)
    session.commit()
    return _index(verify_form=form, result=result)


@bp.post("/export")
def export():
    require_permission(current_user.role, Permission.export_evidence)
    form = ExportForm(prefix="export")
    if not form.validate_on_submit():
        return _index(export_form=form, status=400)
    session = get_session()
    try:
        case = get_case(session, reference=form.reference.data, viewer=current_user)
    except CaseNotFound as exc:
        form.reference.errors.append(str(exc))
        return _index(export_form=form, status=404)
    folder = Path(tempfile.mkdtemp(prefix="docket-export-"))
    try:
        bundle = export_case(
            session,
            case=case,
            out=folder / f"{case.reference}-evidence.zip",
            signer=signer(),
            origin=current_app.config["TRAIL_ORIGIN"],
            store=blob_store(),
            actor=f"user:{current_user.id}",
            withhold=withheld_evidence(session, case=case, viewer=current_user),
        )
    except (TrailError, CheckpointError) as exc:
        # A trail that no longer matches its checkpoints is not exported (nothing is recorded).
        session.rollback()
        shutil.rmtree(folder, ignore_errors=True)
        return _index(export_form=form, export_error=f"Refusing to export: {exc}", status=409)
    session.commit()

    @after_this_request
    def remove_bundle(response):
        bundle.unlink(missing_ok=True)
        folder.rmdir()
        return response

    return send_file(
        bundle, mimetype="application/zip", as_attachment=True, download_name=bundle.name
    )


@bp.get("/public-key.txt")
def public_key():
    return signer().verifier_key + "\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
