"""Appeals (DSA Art. 20): filed by the affected user, or by a reporter against a decision not to
act on their report, from their private page or through the operator's product (the API).

`file_appeal` is the only way into a case's appeal stage: it checks who may appeal what and the
window, writes the `Appeal`, fires the workflow's `files_appeal` transition (which the transition
service refuses from anywhere else), records the grounds and attachments on the trail, ends the
decider's claim so the appeal waits unclaimed in the appeals queue, and queues the appellant's
confirmation — in the caller's transaction. `record_outcome` closes the appeal when a transition
that `ends_appeal` fires; the decision service calls it, so the outcome, its reasons, its
reviewer and any new decision are written with the transition.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from cases.core.errors import InputInvalid
from cases.core.sqltypes import utcnow
from cases.core.uploads import Attachment
from cases.enums import AppealChannel, AppellantKind, EventType, Restriction
from cases.evidence.service import store_attachments
from cases.jobs.outbox import enqueue_job
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import (
    appeal_window_closes_at,
    case_workflow,
    latest_decision,
    transition_case,
)
from cases.models import Appeal, Case, Decision, Report
from cases.review.claims import end_claim
from cases.trail.canonical import utc_timestamp
from cases.trail.store import append_event
from workflows import SYSTEM, Transition, TransitionRefused, available_transitions

MAX_GROUNDS = 5000


class AppealRefused(Exception):
    """No appeal can be filed; the message is fit to show the appellant."""


class NothingToAppeal(AppealRefused):
    """There is no decision this appellant may appeal (yet, or any more)."""


class AppealWindowClosed(AppealRefused):
    def __init__(self, closed_at: datetime):
        super().__init__(
            f"The time to appeal this decision ended on {closed_at:%d %B %Y at %H:%M} UTC."
        )
        self.closed_at = closed_at


class AppealAlreadyOpen(AppealRefused):
    """An appeal against this decision is already being heard."""


class AppealInvalid(InputInvalid):
    """The appeal's own content is at fault; `field` names the input."""


@dataclass(frozen=True)
class AppealOption:
    """Whether the holder of a private link may appeal now, and if not, why."""

    open: bool
    closes_at: datetime | None
    why_not: str | None
    decision: Decision | None


def _filing_transition(session: Session, case: Case) -> Transition | None:
    workflow = case_workflow(session, case)
    return next(
        (t for t in available_transitions(workflow, case.state, [SYSTEM]) if t.files_appeal), None
    )


def _latest_appeal(session: Session, *, decision: Decision) -> Appeal | None:
    return session.exec(
        select(Appeal).where(Appeal.decision_id == decision.id).order_by(col(Appeal.id).desc())
    ).first()


def _refusal(
    session: Session,
    *,
    case: Case,
    appellant: AppellantKind,
    report: Report | None,
    decision: Decision | None,
    at: datetime,
) -> AppealRefused | None:
    if decision is None:
        return NothingToAppeal("No decision has been made on this case yet.")
    if appellant == AppellantKind.reporter:
        if report is None or report.case_id != case.id:
            return NothingToAppeal("Only a decision on your own report can be appealed.")
        if decision.restriction != Restriction.no_action:
            return NothingToAppeal(
                "A reporter may appeal a decision not to act on their report; action was taken."
            )
    elif decision.restriction == Restriction.no_action:
        return NothingToAppeal("No restriction was placed on you, so there is nothing to appeal.")
    heard = _latest_appeal(session, decision=decision)
    if heard is not None and heard.outcome is None:
        return AppealAlreadyOpen("An appeal against this decision is already being reviewed.")
    closes_at = appeal_window_closes_at(session, case=case, decision=decision)
    if at >= closes_at:
        return AppealWindowClosed(closes_at)
    if heard is not None or _filing_transition(session, case) is None:
        return NothingToAppeal("This decision was already reviewed on appeal and is final.")
    return None


def appeal_option(
    session: Session,
    *,
    case: Case,
    appellant: AppellantKind,
    report: Report | None = None,
    now: datetime | None = None,
) -> AppealOption:
    """Whether `appellant` may appeal the case's latest decision now, and until when."""
    decision = latest_decision(session, case.id)
    refusal = _refusal(
        session,
        case=case,
        appellant=appellant,
        report=report,
        decision=decision,
        at=now or utcnow(),
    )
    return AppealOption(
        open=refusal is None,
        closes_at=appeal_window_closes_at(session, case=case, decision=decision),
        why_not=None if refusal is None else str(refusal),
        decision=decision,
    )


def _grounds(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise AppealInvalid("Say why the decision is wrong.", field="grounds")
    if len(text) > MAX_GROUNDS:
        raise AppealInvalid(f"Write at most {MAX_GROUNDS} characters.", field="grounds")
    if "\x00" in text:
        raise AppealInvalid("The text contains a NUL character.", field="grounds")
    return text


def file_appeal(
    session: Session,
    *,
    case: Case,
    appellant: AppellantKind,
    report: Report | None = None,
    grounds: str,
    channel: AppealChannel,
    actor: Actor,
    attachments: Sequence[Attachment] = (),
    received_at: datetime | None = None,
    now: datetime | None = None,
) -> Appeal:
    """File an appeal against the case's latest decision and move the case into its appeal."""
    now = now or utcnow()
    filed_at = received_at or now
    if filed_at > now:
        raise AppealInvalid(
            "The appeal cannot have been received in the future.", field="received_at"
        )
    text = _grounds(grounds)
    decision = latest_decision(session, case.id)
    refusal = _refusal(
        session, case=case, appellant=appellant, report=report, decision=decision, at=filed_at
    )
    if refusal is not None:
        raise refusal
    if filed_at < decision.decided_at:
        raise AppealInvalid("The appeal cannot predate the decision.", field="received_at")
    appeal = Appeal(
        case_id=case.id,
        decision_id=decision.id,
        appellant=appellant,
        report_id=report.id if appellant == AppellantKind.reporter else None,
        channel=channel,
        grounds=text,
        filed_at=filed_at,
        window_closes_at=appeal_window_closes_at(session, case=case, decision=decision),
    )
    session.add(appeal)
    session.flush()
    transition_case(
        session,
        case=case,
        transition=_filing_transition(session, case).name,
        actor=actor,
        fields={"appeal_id": appeal.id},
        now=now,
        filing_appeal=True,
    )
    appeal.attachments = store_attachments(
        session, case=case, attachments=attachments, actor=actor, context={"appeal_id": appeal.id}
    )
    append_event(
        session,
        case=case,
        type=EventType.appeal_filed,
        actor=actor.label,
        payload={
            "appeal_id": appeal.id,
            "decision_id": decision.id,
            "appellant": appellant.value,
            "report_id": appeal.report_id,
            "channel": channel.value,
            "grounds": text,
            "attachments": appeal.attachments,
            "filed_at": utc_timestamp(filed_at),
            "window_closes_at": utc_timestamp(appeal.window_closes_at),
        },
    )
    # The decider's claim does not carry over: the appeal waits in its queue for someone else.
    end_claim(session, case=case, actor=actor, reason="appeal filed")
    enqueue_job(
        session,
        job="notify_reporter" if appellant == AppellantKind.reporter else "notify_affected_user",
        args={
            "case_id": case.id,
            "kind": "appeal_received",
            "appeal_id": appeal.id,
            **({"report_id": appeal.report_id} if appeal.report_id else {}),
        },
        case_id=case.id,
    )
    return appeal


def open_appeal(session: Session, *, case: Case) -> Appeal | None:
    """The case's appeal still being heard, if any."""
    return session.exec(
        select(Appeal)
        .where(Appeal.case_id == case.id, col(Appeal.outcome).is_(None))
        .order_by(col(Appeal.id).desc())
    ).first()


def record_outcome(
    session: Session,
    *,
    case: Case,
    transition: Transition,
    actor: Actor,
    fields: Mapping[str, Any],
    decision: Decision | None,
    now: datetime | None = None,
) -> Appeal:
    """Close the open appeal with the outcome `transition` ends it with (and the decision it
    made, for a partial or full reversal)."""
    appeal = open_appeal(session, case=case)
    if appeal is None:
        raise TransitionRefused(f"{transition.label!r} refused: no appeal is open on this case.")
    appeal.outcome = transition.ends_appeal
    appeal.reasons = fields.get("appeal_outcome")
    appeal.reviewer_id = actor.user_id
    appeal.decided_at = now or utcnow()
    appeal.resulting_decision_id = decision.id if decision is not None else None
    session.add(appeal)
    append_event(
        session,
        case=case,
        type=EventType.appeal_decided,
        actor=actor.label,
        payload={
            "appeal_id": appeal.id,
            "outcome": appeal.outcome,
            "reasons": appeal.reasons,
            "transition": transition.name,
            "resulting_decision_id": appeal.resulting_decision_id,
            "decided_at": utc_timestamp(appeal.decided_at),
        },
    )
    return appeal
