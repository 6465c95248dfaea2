"""The known-hashes admin page (`/admin/known-hashes`): how many known hashes each imported list
and the confirming child-safety cases hold, and a form to import a list. For admins and
child-safety specialists; everyone else is refused. Also registers `flask --app app hashes`."""

from flask import Blueprint, Flask, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from cases.child_safety.known_hash_cli import hashes_cli
from cases.child_safety.known_hashes import (
    LIST_NAME_MAX,
    HashListInvalid,
    import_hash_list,
    source_counts,
    text_lines,
)
from cases.core.db import get_session
from cases.core.security import require_permission
from cases.core.web import body_limit
from cases.enums import Permission

bp = Blueprint("known_hashes", __name__, url_prefix="/admin")

# About a million SHA-256 lines; larger lists go through `flask --app app hashes import`.
LIST_MAX_BYTES = 64 << 20


class ImportForm(FlaskForm):
    name = StringField(
        "List name",
        validators=[DataRequired(), Length(max=LIST_NAME_MAX)],
        description="Where the list comes from and its date, e.g. NCMEC 2026-11.",
    )
    file = FileField(
        "Hash list",
        validators=[FileRequired("Choose the list's file.")],
        description="Plain text, one SHA-256 or MD5 per line; lines starting with # are skipped.",
    )


@bp.before_request
@login_required
def specialists_only():
    # The roles that work child-safety cases (specialists, and admins, who hold every permission).
    require_permission(current_user.role, Permission.work_restricted)


def _page(form: ImportForm, status: int = 200):
    page = render_template(
        "child_safety/known_hashes.html", counts=source_counts(get_session()), form=form
    )
    return page, status


@bp.get("/known-hashes")
def index():
    return _page(ImportForm())


@bp.post("/known-hashes")
@body_limit(lambda _config: LIST_MAX_BYTES)
def import_list():
    form = ImportForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    session = get_session()
    try:
        result = import_hash_list(
            session,
            name=form.name.data,
            lines=text_lines(form.file.data.stream),
            user=current_user,
        )
    except HashListInvalid as exc:
        session.rollback()
        form.file.errors.append(str(exc))
        return _page(form, 400)
    session.commit()
    flash(
        f"Imported {form.name.data.strip()}: {result.hashes} hashes, {result.added} new, "
        f"{result.already_known} already known.",
        "success",
    )
    return redirect(url_for(".index"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(hashes_cli)
