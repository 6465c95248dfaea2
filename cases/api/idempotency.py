"""`Idempotency-Key` for API writes: the first response is stored in the request's transaction
and replayed on repeats; the same key with a different request is refused with 409.

Claiming the key is done inside a SAVEPOINT before the work starts. Two identical requests racing
on PostgreSQL meet at UNIQUE(api_key_id, key): the second insert waits for the first transaction,
fails with an IntegrityError once it commits, and the second request replays what the first
stored. On SQLite, BEGIN IMMEDIATE already serialises writers, so the second simply finds the row.
Only successful responses are stored: a refused request wrote nothing and may be corrected and
sent again under the same key.
"""

import hashlib
import re
from collections.abc import Callable

from flask import Response, jsonify, request
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from cases.core.errors import ApiError
from cases.models import IdempotentResponse

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"[\x21-\x7e]{1,200}\Z")  # visible ASCII, as header values should be
_UNFILLED = 0  # status of a claimed row until the response is known (never committed as such)


def idempotency_key() -> str | None:
    """The request's Idempotency-Key, or None; 422 when it is malformed."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY.match(key):
        raise ApiError(
            422,
            "validation_failed",
            f"The {HEADER} header must be 1 to 200 visible ASCII characters.",
            fields={HEADER: "1 to 200 visible ASCII characters"},
        )
    return key


def request_fingerprint(*, path: str, body: bytes) -> str:
    """What makes two requests "the same": the endpoint and the exact body bytes."""
    return hashlib.sha256(path.encode() + b"\n" + body).hexdigest()


def _stored(session: Session, *, api_key_id: int, key: str) -> IdempotentResponse | None:
    return session.exec(
        select(IdempotentResponse).where(
            IdempotentResponse.api_key_id == api_key_id, IdempotentResponse.key == key
        )
    ).first()


def claim_key(
    session: Session, *, api_key_id: int, key: str, fingerprint: str
) -> tuple[IdempotentResponse, bool]:
    """The key's row and whether this request claimed it (False: an earlier request's row)."""
    earlier = _stored(session, api_key_id=api_key_id, key=key)
    if earlier is not None:
        return earlier, False
    row = IdempotentResponse(
        api_key_id=api_key_id, key=key, request_sha256=fingerprint, status=_UNFILLED, body={}
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # A concurrent request with this key committed first: its response is the answer.
        return _stored(session, api_key_id=api_key_id, key=key), False
    return row, True


def replay(row: IdempotentResponse, *, fingerprint: str) -> Response:
    """The stored response again, or 409 when the key was used for a different request."""
    if row.request_sha256 != fingerprint:
        raise ApiError(
            409,
            "idempotency_conflict",
            f"This {HEADER} was already used for a different request; use a new key.",
            fields={HEADER: "already used for a different request"},
        )
    response = jsonify(row.body)
    response.status_code = row.status
    response.headers[REPLAYED_HEADER] = "true"
    return response


def respond_once(
    session: Session,
    *,
    api_key_id: int,
    body: bytes,
    produce: Callable[[], tuple[dict, int]],
) -> Response:
    """Run `produce` (which writes through `session`) and commit its response, at most once per
    Idempotency-Key; without the header, every request runs."""
    key = idempotency_key()
    row = None
    if key is not None:
        fingerprint = request_fingerprint(path=request.path, body=body)
        row, claimed = claim_key(session, api_key_id=api_key_id, key=key, fingerprint=fingerprint)
        if not claimed:
            response = replay(row, fingerprint=fingerprint)
            session.commit()  # the key's last use
            return response
    payload, status = produce()
    if row is not None:
        row.status, row.body = status, payload
    session.commit()
    response = jsonify(payload)
    response.status_code = status
    return response
