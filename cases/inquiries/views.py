"""`/inquiries`: the AI provider's inquiries, each worked as a case and answered with a dossier.
Leads and admins record inquiries, generate dossiers and record answers; auditors read."""

from flask import Blueprint, Flask, abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user, login_required

from cases.core.db import get_session
from cases.core.errors import InputInvalid
from cases.core.periods import last_day
from cases.core.web import private_page
from cases.inquiries.dossier import FORMATS, generate_dossier
from cases.inquiries.forms import AnswerForm, DossierForm, InquiryForm, as_utc
from cases.inquiries.service import (
    InquiryNotFound,
    InquiryRow,
    answer_inquiry,
    dossiers_generated,
    get_inquiry,
    list_inquiries,
    may_manage,
    record_inquiry,
    require_inquiry_role,
)
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import TransitionRefused

bp = Blueprint("inquiries", __name__, url_prefix="/inquiries")


@bp.before_request
@login_required
def readers_only():
    require_inquiry_role(current_user, write=False)


@bp.get("")
def index():
    rows = list_inquiries(get_session())
    page = render_template("inquiries/index.html", rows=rows, may_write=may_manage(current_user))
    return private_page(make_response(page))


def _form_page(form: InquiryForm, status: int = 200):
    page = render_template("inquiries/new.html", form=form)
    return private_page(make_response(page, status))


@bp.get("/new")
def new():
    require_inquiry_role(current_user, write=True)
    return _form_page(InquiryForm())


@bp.post("/new")
def create():
    require_inquiry_role(current_user, write=True)
    form = InquiryForm()
    if not form.validate_on_submit():
        return _form_page(form, status=400)
    session = get_session()
    start, end = form.period
    try:
        inquiry = record_inquiry(
            session,
            provider_reference=form.provider_reference.data,
            received_at=as_utc(form.received_at.data),
            deadline_at=as_utc(form.deadline_at.data),
            period_start=start,
            period_end=end,
            clauses=form.clauses.data or [],
            summary=form.summary.data or "",
            actor=Actor.staff(current_user),
        )
    except InputInvalid as exc:
        getattr(form, exc.field, form.provider_reference).errors.append(str(exc))
        return _form_page(form, status=400)
    session.commit()
    flash(f"Inquiry {inquiry.provider_reference} recorded; answer it by its deadline.", "success")
    return redirect(url_for("inquiries.detail", inquiry_id=inquiry.id), code=303)


def _row(inquiry_id: int) -> InquiryRow:
    try:
        return get_inquiry(get_session(), inquiry_id=inquiry_id)
    except InquiryNotFound as exc:
        abort(404, description=str(exc))


def _detail_page(row: InquiryRow, *, answer_form: AnswerForm | None = None, status: int = 200):
    page = render_template(
        "inquiries/detail.html",
        row=row,
        last_day=last_day(row.inquiry.period_end),
        dossiers=dossiers_generated(get_session(), case=row.case),
        formats=list(FORMATS),
        answer_form=answer_form or AnswerForm(),
        may_write=may_manage(current_user),
    )
    return private_page(make_response(page, status))


@bp.get("/<int:inquiry_id>")
def detail(inquiry_id: int):
    return _detail_page(_row(inquiry_id))


@bp.post("/<int:inquiry_id>/dossier")
def dossier(inquiry_id: int):
    require_inquiry_role(current_user, write=True)
    row = _row(inquiry_id)
    form = DossierForm()
    if not form.validate_on_submit():
        abort(400, description="Choose PDF, HTML or JSON, from the inquiry's page.")
    session = get_session()
    made = generate_dossier(
        session,
        start=row.inquiry.period_start,
        end=row.inquiry.period_end,
        clauses=row.inquiry.clauses,
        format=form.format.data,
        inquiry=row.inquiry,
        actor_label=f"user:{current_user.id}",
        user=current_user,
    )
    session.commit()
    response = make_response(made.document)
    response.headers["Content-Type"] = FORMATS[made.format]
    response.headers["Content-Disposition"] = f'attachment; filename="{made.filename}"'
    return private_page(response)


@bp.post("/<int:inquiry_id>/answer")
def answer(inquiry_id: int):
    require_inquiry_role(current_user, write=True)
    row = _row(inquiry_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        return _detail_page(row, answer_form=form, status=400)
    session = get_session()
    try:
        answer_inquiry(
            session, inquiry=row.inquiry, actor=Actor.staff(current_user), note=form.note.data
        )
    except TransitionRefused as exc:
        form.note.errors.append(str(exc))
        return _detail_page(row, answer_form=form, status=409)
    session.commit()
    flash("The inquiry is recorded as answered.", "success")
    return redirect(url_for("inquiries.detail", inquiry_id=inquiry_id), code=303)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
