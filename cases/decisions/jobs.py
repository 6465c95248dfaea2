"""Jobs of the decisions domain: delivering a decision to the operator's platform (see
`cases.decisions.webhooks` for the body, the signature and the retries)."""

import hashlib
from urllib.parse import urlsplit

from flask import current_app
from sqlmodel import Session

from cases.decisions.webhooks import (
    NOT_CONFIGURED,
    WebhookFailed,
    decision_of,
    enforcement_body,
    post,
    public_url,
)
from cases.enums import EventType
from cases.jobs.registry import job
from cases.lifecycle.actors import Actor
from cases.models import Case, Outbox, Subject
from cases.trail.store import append_event


@job("send_enforcement_webhook", queue="webhooks", max_attempts=8)
def send_enforcement_webhook(
    session: Session, outbox: Outbox, *, case_id: int, event_id: int, **_args
) -> None:
    """Deliver the decision of transition event `event_id` and record the attempt."""
    case = session.get(Case, case_id)
    decision = decision_of(session, case_id=case_id, event_id=event_id)
    config = current_app.config
    url, secret = config.get("WEBHOOK_URL"), config.get("WEBHOOK_SECRET")
    record = {
        "delivery": outbox.id,
        "attempt": outbox.attempts + 1,
        "decision_id": decision.id,
        "restriction": decision.restriction,
    }

    def attempt_recorded(**result) -> None:
        append_event(
            session,
            case=case,
            type=EventType.enforcement_sent,
            actor=Actor.system(f"job:{outbox.id}").label,
            payload={**record, **result},
        )

    if not url:
        attempt_recorded(sent=False, result=NOT_CONFIGURED)
        return
    record["url"] = public_url(url)
    if urlsplit(url).scheme not in ("http", "https") or not secret:
        problem = "WEBHOOK_URL must be http(s)" if secret else "WEBHOOK_SECRET is not set"
        attempt_recorded(sent=False, result=f"not sent: {problem}")
        raise WebhookFailed(problem)
    body = enforcement_body(
        case=case,
        subject=session.get(Subject, case.subject_id),
        decision=decision,
        delivery=outbox.id,
    )
    record["body_sha256"] = hashlib.sha256(body).hexdigest()
    try:
        status = post(
            url,
            body,
            secret=secret,
            delivery=outbox.id,
            timeout=float(config["WEBHOOK_TIMEOUT"]),
        )
    except WebhookFailed as exc:
        attempt_recorded(sent=False, result=str(exc), status=exc.status)
        raise
    attempt_recorded(sent=True, result=f"HTTP {status}", status=status)
