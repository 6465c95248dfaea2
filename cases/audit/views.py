"""The auditor's workspace: the signed log, verification of a case or the whole trail, and
evidence bundles to take away and verify offline."""

import tempfile
from pathlib import Path

from flask import Blueprint, Flask, after_this_request, current_app, render_template, send_file
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlmodel import col, select
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

from cases.accounts.access import CaseNotFound, get_case
from cases.audit.signing import signer
from cases.core.db import get_engine, get_session, session_scope, snapshot
from cases.core.security import require_permission
from cases.enums import Permission
from cases.evidence.blobs import blob_store
from cases.evidence.service import withheld_evidence
from cases.trail.audit import verify_trail
from cases.trail.events import TrailError
from cases.trail.export import export_case
from cases.trail.models import Checkpoint
from cases.trail.store import log_size

bp = Blueprint("audit", __name__, url_prefix="/audit")


class VerifyForm(FlaskForm):
    reference = StringField(
        "Case reference",
        validators=[Optional(), Length(max=32)],
        description="Leave empty to verify the whole trail.",
    )


class ExportForm(FlaskForm):
    reference = StringField("Case reference", validators=[DataRequired(), Length(max=32)])


@bp.before_request
@login_required
def auditors_only():
    require_permission(current_user.role, Permission.view_audit)


def _page(*, verify_form=None, export_form=None, result=None, status=200):
    session = get_session()
    checkpoints = session.exec(
        select(Checkpoint).order_by(col(Checkpoint.id).desc()).limit(10)
    ).all()
    return render_template(
        "audit/index.html",
        checkpoints=checkpoints,
        size=log_size(session),
        public_key=signer().verifier_key,
        verify_form=verify_form or VerifyForm(prefix="verify"),
        export_form=export_form or ExportForm(prefix="export"),
        result=result,
    ), status


@bp.get("/")
def index():
    return _page()


@bp.post("/verify")
def verify():
    form = VerifyForm(prefix="verify")
    if not form.validate_on_submit():
        return _page(verify_form=form, status=400)
    session = get_session()
    reference = (form.reference.data or "").strip() or None
    if reference is not None:
        try:
            get_case(session, reference=reference, viewer=current_user)
        except CaseNotFound as exc:
            form.reference.errors.append(str(exc))
            return _page(verify_form=form, status=404)
    try:
        # Its own read-only snapshot: consistent while appends go on, and no write lock held.
        with session_scope(snapshot(get_engine())) as trail:
            report = verify_trail(
                trail, verifier_key=signer().verifier_key, store=blob_store(), case_ref=reference
            )
        result = {"ok": True, "lines": report.lines(), "scope": reference or "the whole trail"}
    except TrailError as exc:
        result = {"ok": False, "lines": [str(exc)], "scope": reference or "the whole trail"}
    return _page(verify_form=form, result=result)


@bp.post("/export")
def export():
    require_permission(current_user.role, Permission.export_evidence)
    form = ExportForm(prefix="export")
    if not form.validate_on_submit():
        return _page(export_form=form, status=400)
    session = get_session()
    try:
        case = get_case(session, reference=form.reference.data.strip(), viewer=current_user)
    except CaseNotFound as exc:
        form.reference.errors.append(str(exc))
        return _page(export_form=form, status=404)
    folder = Path(tempfile.mkdtemp(prefix="docket-export-"))
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
