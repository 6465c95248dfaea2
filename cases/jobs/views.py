"""The admin jobs page: what the outbox holds, and a retry for jobs that failed."""

from flask import Blueprint, Flask, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlmodel import func, select

from cases.accounts.service import record_account_event
from cases.core.db import get_session
from cases.core.security import require_permission
from cases.enums import AccountEventType, OutboxStatus, Permission
from cases.jobs.outbox import retry_job
from cases.models import Outbox

bp = Blueprint("jobs", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def require_job_access():
    require_permission(current_user.role, Permission.view_jobs)


JOB_LIST_LIMIT = 100


def _outbox_rows(statuses: tuple[str, ...], *, limit: int, oldest_first: bool = False):
    session = get_session()
    order = Outbox.id if oldest_first else Outbox.id.desc()
    return session.exec(
        select(Outbox).where(Outbox.status.in_(statuses)).order_by(order).limit(limit)
    ).all()


@bp.get("/jobs")
def index():
    counts = get_session().exec(select(Outbox.status, func.count()).group_by(Outbox.status))
    return render_template(
        "jobs/index.html",
        counts=dict(counts.all()),
        failed=_outbox_rows((OutboxStatus.failed,), limit=JOB_LIST_LIMIT),
        waiting=_outbox_rows(
            (OutboxStatus.pending, OutboxStatus.dispatched), limit=JOB_LIST_LIMIT, oldest_first=True
        ),
        done=_outbox_rows((OutboxStatus.done,), limit=20),
        limit=JOB_LIST_LIMIT,
    )


@bp.post("/jobs/<int:outbox_id>/retry")
def retry(outbox_id: int):
    session = get_session()
    outbox = session.get(Outbox, outbox_id)
    if outbox is None:
        abort(404)
    try:
        retry_job(session, outbox=outbox, actor=current_user)
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("jobs.index"))
    # A staff action, kept in the append-only account history beside sign-ins and key changes.
    record_account_event(
        session,
        type=AccountEventType.job_retried,
        user=None,
        actor=current_user,
        detail={"outbox": outbox.id, "job": outbox.job},
    )
    session.commit()
    flash(f"Job {outbox.id} ({outbox.job}) was sent again.", "success")
    return redirect(url_for("jobs.index"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
