"""Cases over the JSON API: list and read what the caller may see, and fire transitions.

Integrations act as the system (their key is the actor), so they can fire only the transitions a
workflow leaves to the system — e.g. that the end user answered a request for information.
Transitions are never accepted on a staff session cookie: a cross-site form could ride on it.
"""

import base64
import json

from flask import g, request
from sqlmodel import col, select

from cases.accounts.access import CaseNotFound, get_case, visible_cases
from cases.api import api_key_required, bp, current_viewer
from cases.api.body import invalid, json_body, validated
from cases.api.schemas import ID_MAX, StatementOfReasons, TransitionRequest
from cases.core.db import get_session
from cases.core.errors import ApiError
from cases.decisions.service import DecisionInvalid, fire_transition
from cases.enums import ApiScope
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import (
    AppealRequired,
    AwaitingApproval,
    GuardRefused,
    case_workflow,
)
from cases.models import Case, Decision
from workflows import (
    DecisionKind,
    MissingFields,
    RequiredField,
    RoleNotAllowed,
    Transition,
    TransitionRefused,
    UnknownTransition,
    get_transition,
)

PAGE_MAX = 200
CURSOR_MAX = 100  # characters; the cursors given out are about 30
FILTERS = ("state", "stage", "queue", "workflow_name", "priority_band", "policy_clause")


def case_summary(case: Case) -> dict:
    return {
        "reference": case.reference,
        "workflow": case.workflow_name,
        "workflow_version": case.workflow_version,
        "state": case.state,
        "stage": case.stage,
        "queue": case.queue,
        "policy_clause": case.policy_clause,
        "severity": case.severity,
        "priority": case.priority,
        "priority_band": case.priority_band,
        "restricted": case.restricted,
        "report_count": case.report_count,
        "opened_at": case.opened_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "sla_due_at": case.sla_due_at.isoformat() if case.sla_due_at else None,
        "sla_breached": case.sla_breached,
    }


def _cursor(case_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": case_id}).encode()).decode()


def _after(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        if len(cursor) > CURSOR_MAX:
            raise ValueError("too long")
        case_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))["id"]
    except (ValueError, KeyError, TypeError):
        case_id = None
    # Only a case's id: not a float (1e400 is infinity), a boolean, nor past the id column.
    if type(case_id) is not int or not 0 < case_id < ID_MAX:
        raise ApiError(
            422,
            "invalid_parameter",
            "The cursor is not one this API gave out.",
            fields={"cursor": "invalid"},
        )
    return case_id


def _limit() -> int:
    raw = request.args.get("limit", "50")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= PAGE_MAX:
        raise ApiError(
            422,
            "invalid_parameter",
            f"'limit' must be 1 to {PAGE_MAX}",
            fields={"limit": f"a whole number from 1 to {PAGE_MAX}"},
        )
    return int(raw)


@bp.get("/cases")
def list_cases():
    viewer = current_viewer(ApiScope.cases_read)
    limit = _limit()
    statement = visible_cases(viewer).order_by(col(Case.id).desc())
    for name in FILTERS:
        if request.args.get(name):
            statement = statement.where(getattr(Case, name) == request.args[name])
    after = _after(request.args.get("cursor"))
    if after is not None:
        statement = statement.where(Case.id < after)
    rows = get_session().exec(statement.limit(limit + 1)).all()
    page = rows[:limit]
    more = len(rows) > limit
    return {
        "cases": [case_summary(case) for case in page],
        "next_cursor": _cursor(page[-1].id) if more else None,
    }


def visible_case(reference: str, viewer) -> Case:
    try:
        return get_case(get_session(), reference=reference, viewer=viewer)
    except CaseNotFound:
        raise ApiError(404, "not_found", f"No case {reference}.") from None


@bp.get("/cases/<reference>")
def read_case(reference: str):
    viewer = current_viewer(ApiScope.cases_read)
    case = visible_case(reference, viewer)
    decisions = get_session().exec(
        select(Decision).where(Decision.case_id == case.id).order_by(col(Decision.id))
    )
    return {
        "case": case_summary(case),
        "decisions": [
            {
                "policy_clause": d.policy_clause,
                "restriction": d.restriction,
                "duration_days": d.duration_days,
                "territorial_scope": d.territorial_scope,
                "automated_detection": d.automated_detection,
                "automated_decision": d.automated_decision,
                "decided_at": d.decided_at.isoformat(),
            }
            for d in decisions
        ],
    }


def accepted_fields(transition: Transition) -> frozenset[RequiredField]:
    """The fields `transition` takes: those it requires, and those the decision service reads
    beside them (a restriction's length; on appeal, the clause and scope that replace those of
    the decision under appeal)."""
    accepted = set(transition.requires)
    if RequiredField.restriction in accepted:
        accepted.add(RequiredField.duration_days)
    if transition.decides in (DecisionKind.partial_reversal, DecisionKind.reversal):
        accepted |= {RequiredField.policy_clause, RequiredField.territorial_scope}
    return frozenset(accepted)


def _field_path(name: str) -> str:
    """The JSON path of a field the services name (a statement of reasons' parts by their own)."""
    if name in StatementOfReasons.model_fields:
        return f"fields.statement_of_reasons.{name}"
    return f"fields.{name}"


@bp.post("/cases/<reference>/transitions")
@api_key_required(ApiScope.cases_write)
def fire(reference: str):
    _, text, body = json_body()
    name = validated(TransitionRequest, body, text).transition
    # Validated as TransitionFields; passed on as sent, so the trail records exactly that.
    fields = body.get("fields", {})
    session = get_session()
    case = visible_case(reference, g.api_key)
    try:
        transition = get_transition(case_workflow(session, case), name)
    except UnknownTransition as exc:
        raise ApiError(
            422, "unknown_transition", str(exc), fields={"transition": "unknown"}
        ) from None
    if refused := sorted(set(fields) - accepted_fields(transition)):
        raise invalid({f"fields.{field}": "not accepted by this transition" for field in refused})
    actor = Actor.system(f"api_key:{g.api_key.id}")
    try:
        fire_transition(session, case=case, transition=name, actor=actor, fields=fields)
    except DecisionInvalid as exc:
        raise ApiError(
            422, "validation_failed", str(exc), fields={_field_path(exc.field): str(exc)}
        ) from None
    except MissingFields as exc:
        raise ApiError(
            422,
            "missing_fields",
            str(exc),
            fields={_field_path(field): "required" for field in exc.fields},
        ) from None
    except RoleNotAllowed as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    except AppealRequired:
        raise ApiError(
            409,
            "transition_refused",
            f"Appeals are filed with POST /api/v1/cases/{reference}/appeals, with the appellant "
            "and the grounds.",
        ) from None
    except (GuardRefused, AwaitingApproval, TransitionRefused) as exc:
        raise ApiError(409, "transition_refused", str(exc)) from None
    session.commit()
    return {"case": case_summary(case)}, 200
