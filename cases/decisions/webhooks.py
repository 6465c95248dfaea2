"""Webhooks to the operator's platform: the signing, posting and recording every event shares,
and the `enforcement` event (a decision delivered to the platform, which carries it out). The
`notice` event (a message the platform shows the affected user) is composed in `cases.notices`
and delivered the same way.

`send_enforcement_webhook` (in `cases.decisions.jobs`) is enqueued by the transitions that decide
(see `cases.decisions.service`). It POSTs a JSON body to `WEBHOOK_URL`:

    {"event": "enforcement", "case": "DK-2026-000123", "subject": {"kind": …, "id": …},
     "decision": {"restriction": …, "duration_days": …, "territorial_scope": […],
                  "policy_clause": …, "decided_at": "2026-…Z"},
     "idempotency_key": "outbox-<id>"}

with `X-Docket-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed by
WEBHOOK_SECRET>` and `X-Docket-Delivery: <outbox id>`. The receiver recomputes the HMAC over the raw
bytes it received and compares in constant time. The delivery id and idempotency key stay the same
on every retry, so a receiver that gets one delivery twice (a worker died after sending, before
committing) can ignore the repeat. A `no_action` restriction after a restriction means: lift it.

Every attempt is an event with its result (`enforcement_sent` here). A non-2xx answer or a
network error raises `AttemptFailed`, so the runner keeps that event and retries with backoff (8
attempts). With no `WEBHOOK_URL` the job records that nothing was sent and succeeds.
"""

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlmodel import Session, select

from cases.jobs.registry import AttemptFailed
from cases.models import Case, Decision, Subject
from cases.trail.canonical import utc_timestamp

SIGNATURE_HEADER = "X-Docket-Signature"


DELIVERY_HEADER = "X-Docket-Delivery"


NOT_CONFIGURED = "not sent: no webhook configured"


USER_AGENT = "Docket-Webhook/1"


MAX_ERROR_CHARS = 300


class WebhookFailed(AttemptFailed):
    """The attempt was not accepted (non-2xx, network error, or a configuration problem)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A signed delivery goes to the configured URL only; a redirect is answered as a failure.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def sign(body: bytes, secret: str) -> str:
    """The `X-Docket-Signature` value for `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def json_body(body: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON with sorted keys."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def idempotency_key(delivery: int) -> str:
    return f"outbox-{delivery}"


def enforcement_body(*, case: Case, subject: Subject, decision: Decision, delivery: int) -> bytes:
    """The `enforcement` event's bytes."""
    return json_body(
        {
            "event": "enforcement",
            "case": case.reference,
            "subject": {"kind": subject.kind, "id": subject.external_id},
            "decision": {
                "restriction": decision.restriction,
                "duration_days": decision.duration_days,
                "territorial_scope": list(decision.territorial_scope),
                "policy_clause": decision.policy_clause,
                "decided_at": utc_timestamp(decision.decided_at),
            },
            "idempotency_key": idempotency_key(delivery),
        }
    )


def post(url: str, body: bytes, *, secret: str, delivery: int, timeout: float) -> int:
    """POST the body; the HTTP status, or WebhookFailed for a non-2xx answer or a network error."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(body, secret),
            DELIVERY_HEADER: str(delivery),
        },
    )
    try:
        # urllib raises HTTPError for every answer outside 2xx (redirects too, see above).
        with _opener.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        raise WebhookFailed(f"HTTP {exc.code}", status=exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WebhookFailed(f"network error: {reason}"[:MAX_ERROR_CHARS]) from None


def deliver(
    config: Mapping[str, Any],
    *,
    body: Callable[[], bytes],
    delivery: int,
    record: Callable[..., None],
) -> bool:
    """Make one signed delivery attempt to WEBHOOK_URL and `record` it (sent, result, and as far
    as it got: url, body_sha256, status). False when no URL is configured (recorded as not sent);
    WebhookFailed, after recording, when the attempt failed and should be retried."""
    url, secret = config.get("WEBHOOK_URL"), config.get("WEBHOOK_SECRET")
    if not url:
        record(sent=False, result=NOT_CONFIGURED)
        return False
    where: dict[str, Any] = {"url": public_url(url)}
    if urlsplit(url).scheme not in ("http", "https") or not secret:
        problem = "WEBHOOK_URL must be http(s)" if secret else "WEBHOOK_SECRET is not set"
        record(sent=False, result=f"not sent: {problem}", **where)
        raise WebhookFailed(problem)
    data = body()
    where["body_sha256"] = hashlib.sha256(data).hexdigest()
    try:
        status = post(
            url, data, secret=secret, delivery=delivery, timeout=float(config["WEBHOOK_TIMEOUT"])
        )
    except WebhookFailed as exc:
        record(sent=False, result=str(exc), status=exc.status, **where)
        raise
    record(sent=True, result=f"HTTP {status}", status=status, **where)
    return True


def public_url(url: str) -> str:
    # Query strings and user info may carry credentials; the trail keeps where, not how.
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def decision_of(session: Session, *, case_id: int, event_id: int) -> Decision:
    """The decision written by the transition event that enqueued the delivery."""
    decision = session.exec(
        select(Decision).where(
            Decision.case_id == case_id, Decision.transition_event_id == event_id
        )
    ).first()
    if decision is None:
        raise LookupError(f"no decision of transition event {event_id} on case {case_id}")
    return decision
