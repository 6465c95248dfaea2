"""The public log endpoints (checkpoints and proofs reveal only hashes) and a case's events."""

import base64
import json

from flask import Response, request
from sqlmodel import select

from cases.accounts.access import CaseNotFound, get_case
from cases.api import bp, current_viewer
from cases.core.db import get_session
from cases.core.errors import ApiError
from cases.enums import ApiScope
from cases.trail.checkpoints import latest_checkpoint
from cases.trail.merkle import leaf_hash
from cases.trail.models import CaseEvent, EventPayload, LogLeaf
from cases.trail.store import consistency_proof, inclusion_proof, log_size, root_at


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _count(name: str, *, minimum: int = 0) -> int:
    raw = request.args.get(name, "")
    # ASCII only: str.isdigit() also accepts "²" (int() then fails) and "１" (int() reads 1);
    # and at most 19 digits (int64), since int() refuses strings past 4300 digits.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) < minimum:
        raise ApiError(
            422,
            "invalid_parameter",
            f"'{name}' must be a whole number of at least {minimum}",
            fields={name: "a whole number is required"},
        )
    return int(raw)


def _within_log(session, size: int, name: str) -> None:
    current = log_size(session)
    if size > current:
        raise ApiError(
            422, "invalid_parameter", f"the log has {current} leaves", fields={name: "too large"}
        )


@bp.get("/log/checkpoint")
def checkpoint():
    signed = latest_checkpoint(get_session())
    if signed is None:
        raise ApiError(404, "not_found", "No checkpoint has been signed yet.")
    return Response(signed.note, mimetype="text/plain; charset=utf-8")


@bp.get("/log/proof/inclusion")
def proof_inclusion():
    session = get_session()
    index, size = _count("index"), _count("size", minimum=1)
    _within_log(session, size, "size")
    if index >= size:
        raise ApiError(
            422,
            "invalid_parameter",
            "index must be below size",
            fields={"index": "must be below size"},
        )
    return _inclusion(session, index=index, size=size)


@bp.get("/cases/<reference>/events/<int:seq>/proof")
def event_proof(reference: str, seq: int):
    """The inclusion proof of one of a case's events, found by its place in the case's chain."""
    session = get_session()
    case = _visible_case(session, reference)
    event = session.exec(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.seq == seq)
    ).first()
    if event is None:
        raise ApiError(404, "not_found", f"Case {reference} has no event {seq}.")
    if event.log_index is None:
        # Never a proof against a guessed index: the event has none until it is integrated.
        raise ApiError(
            409,
            "not_integrated",
            f"Event {seq} of {reference} is not yet integrated into the log (it is chained and "
            "pending a log index, normally for a second or two); ask again shortly.",
        )
    size = _count("size", minimum=1) if "size" in request.args else log_size(session)
    _within_log(session, size, "size")
    if event.log_index >= size:
        raise ApiError(
            422,
            "invalid_parameter",
            f"event {seq} has log index {event.log_index}, outside a tree of {size} leaves",
            fields={"size": f"must be above {event.log_index}"},
        )
    return _inclusion(session, index=event.log_index, size=size)


def _inclusion(session, *, index: int, size: int) -> dict:
    leaf = session.get(LogLeaf, index)
    return {
        "index": index,
        "size": size,
        "leaf_hash": _b64(leaf_hash(leaf.data)),
        "root": _b64(root_at(session, size=size)),
        "proof": [_b64(h) for h in inclusion_proof(session, index=index, size=size)],
    }


@bp.get("/log/proof/consistency")
def proof_consistency():
    session = get_session()
    first, second = _count("from"), _count("to", minimum=1)
    _within_log(session, second, "to")
    if first > second:
        raise ApiError(
            422,
            "invalid_parameter",
            "'from' must not exceed 'to'",
            fields={"from": "must not exceed 'to'"},
        )
    return {
        "from": first,
        "to": second,
        "root_from": _b64(root_at(session, size=first)),
        "root_to": _b64(root_at(session, size=second)),
        "proof": [_b64(h) for h in consistency_proof(session, size1=first, size2=second)],
    }


def _visible_case(session, reference: str):
    viewer = current_viewer(ApiScope.cases_read)
    try:
        return get_case(session, reference=reference, viewer=viewer)
    except CaseNotFound:
        raise ApiError(404, "not_found", f"No case {reference}.") from None


@bp.get("/cases/<reference>/events")
def case_events(reference: str):
    session = get_session()
    case = _visible_case(session, reference)
    rows = session.exec(
        select(CaseEvent, EventPayload)
        .join(EventPayload, EventPayload.event_id == CaseEvent.id, isouter=True)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.seq)
    )
    return {
        "case": case.reference,
        "events": [
            {
                "seq": event.seq,
                "type": event.type,
                "actor": event.actor,
                "at": json.loads(event.header)["at"],
                "log_index": event.log_index,
                "entry_hash": event.entry_hash,
                "header": event.header,
                "payload": json.loads(payload.payload) if payload else None,
                "erased": payload is None,
            }
            for event, payload in rows
        ],
    }
