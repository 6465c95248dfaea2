"""Jobs of the decisions domain: delivering a decision to the operator's platform (see
`cases.decisions.webhooks` for the body, the signature and the retries)."""

from flask import current_app
from sqlmodel import Session

from cases.decisions.webhooks import decision_of, deliver, enforcement_body
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
    attempt = {
        "delivery": outbox.id,
        "attempt": outbox.attempts + 1,
        "decision_id": decision.id,
        "restriction": decision.restriction,
    }

    def record(**result) -> None:
        append_event(
            session,
            case=case,
            type=EventType.enforcement_sent,
            actor=Actor.system(f"job:{outbox.id}").label,
            payload={**attempt, **result},
        )

    deliver(
        current_app.config,
        body=lambda: enforcement_body(
            case=case,
            subject=session.get(Subject, case.subject_id),
            decision=decision,
            delivery=outbox.id,
        ),
        delivery=outbox.id,
        record=record,
    )
