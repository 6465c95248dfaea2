"""Helpers for tests that drive the app as a browser would (CSRF tokens included) and read back
what it wrote."""

import io
import json
import re

from flask.testing import FlaskClient
from sqlmodel import Session, func, select

from cases.models import Case, Report
from cases.trail.models import CaseEvent, EventPayload
from tests.factories import PASSWORD

_CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'name="csrf_token" value="([^"]+)"'
)


def csrf_token(client: FlaskClient, url: str) -> str:
    """The CSRF token of the form served at `url`."""
    page = client.get(url)
    match = _CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({page.status_code})"
    return match.group(1) or match.group(2)


def login(client: FlaskClient, email: str, password: str = PASSWORD, **extra):
    token = csrf_token(client, "/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token, **extra}
    )


def notice_form(**changes) -> dict:
    """A complete, valid report; `changes` replace fields (None leaves a field out)."""
    form = {
        "category": "protect.threats",
        "url": "https://social.example/posts/991",
        "content_id": "",
        "account_id": "acct-4471",
        "explanation": "This account posted a message threatening to hurt my sister.",
        "reporter_name": "Ada Reporter",
        "reporter_email": "ada@example.org",
        "good_faith": "y",
    }
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


def post_report(client, *, files: list[tuple[bytes, str, str]] = (), csrf: bool = True, **changes):
    """POST the form (multipart, as a browser sends it) with attachments (bytes, name, type)."""
    data = notice_form(**changes)
    if csrf:
        data["csrf_token"] = csrf_token(client, "/report")
    data["attachments"] = [
        (io.BytesIO(content), filename, content_type) for content, filename, content_type in files
    ]
    return client.post("/report", data=data, content_type="multipart/form-data")


def fresh(session: Session) -> Session:
    """The session, reading what has committed since (a read transaction keeps its snapshot)."""
    session.rollback()
    session.expire_all()  # rollback expires nothing when no transaction had begun
    return session


def written(session: Session) -> tuple[int, int, int]:
    """How many reports, cases and events exist."""
    fresh(session)
    return tuple(len(session.exec(select(model)).all()) for model in (Report, Case, CaseEvent))


def event_payloads(session: Session, case_id: int, type: str) -> list[tuple[dict, dict]]:
    """The case's events of `type` as (header, payload), oldest first."""
    rows = session.exec(
        select(CaseEvent, EventPayload)
        .join(EventPayload, EventPayload.event_id == CaseEvent.id)
        .where(CaseEvent.case_id == case_id, CaseEvent.type == type)
        .order_by(CaseEvent.seq)
    ).all()
    return [(json.loads(event.header), json.loads(payload.payload)) for event, payload in rows]


def events(session: Session, case: Case, type: str | None = None) -> list[CaseEvent]:
    """The case's events as committed now (ends the session's read transaction first)."""
    session.rollback()
    query = select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
    return [e for e in session.exec(query) if type is None or e.type == type]


def reloaded(session: Session, row):
    """The row as committed now (a SQLite read transaction keeps its first snapshot)."""
    session.rollback()
    session.refresh(row)
    return row


def count(session: Session, model) -> int:
    """How many rows of `model` exist."""
    return session.exec(select(func.count()).select_from(model)).one()
