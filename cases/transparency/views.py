"""`/transparency`: a period's figures for leads, admins and auditors, with charts drawn on the
server as SVG, and the same figures as CSV (`/transparency.csv`) and JSON (`/transparency.json`).
All three take the period from the query string (`from`, `to`: days, both included)."""

import json
from collections.abc import Callable

from flask import Blueprint, Flask, Response, make_response, render_template, request
from flask_login import current_user, login_required

from cases.core.db import get_engine, session_scope, snapshot
from cases.core.security import require_permission
from cases.core.web import private_page
from cases.enums import Permission
from cases.lifecycle.deployed import definitions
from cases.transparency.charts import breakdowns
from cases.transparency.forms import PeriodForm
from cases.transparency.service import TransparencyFigures, figures_csv, transparency_figures

bp = Blueprint("transparency", __name__)


@bp.before_request
@login_required
def readers_only():
    require_permission(current_user.role, Permission.view_transparency)


def _page(form: PeriodForm, figures: TransparencyFigures | None = None, status: int = 200):
    page = render_template(
        "transparency/index.html",
        form=form,
        figures=figures,
        breakdowns=breakdowns(figures, policy=definitions().policy) if figures else [],
    )
    return private_page(make_response(page, status))


def _answer(respond: Callable[[PeriodForm, TransparencyFigures], Response]):
    """Validate the period (the page with the message beside the field when it is wrong), take
    the figures from one snapshot, so that they agree with one another, and `respond`."""
    form = PeriodForm(request.args)
    if not form.validate():
        return _page(form, status=400)
    start, end = form.period
    with session_scope(snapshot(get_engine())) as session:
        figures = transparency_figures(session, start=start, end=end)
    return respond(form, figures)


def _download(form: PeriodForm, body: str, *, extension: str, content_type: str) -> Response:
    name = f"transparency-{form.first.data}-to-{form.last.data}.{extension}"
    response = make_response(body)
    response.headers["Content-Type"] = content_type
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return private_page(response)


@bp.get("/transparency")
def index():
    return _answer(_page)


@bp.get("/transparency.csv")
def download_csv():
    return _answer(
        lambda form, figures: _download(
            form, figures_csv(figures), extension="csv", content_type="text/csv; charset=utf-8"
        )
    )


@bp.get("/transparency.json")
def download_json():
    return _answer(
        lambda form, figures: _download(
            form,
            json.dumps(figures.as_dict(), indent=2) + "\n",
            extension="json",
            content_type="application/json",
        )
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
