"""What the holder of a private link sees: their own report or the decision about them, in the
public's words, without third parties' personal data."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, select

from cases.enums import AppealOutcome, EventType, Restriction, Stage
from cases.lifecycle.transitions import case_workflow, latest_decision
from cases.models import Case, Report, Subject
from cases.notices.wording import (
    RESTRICTION_WORDS,
    DecisionNotice,
    clause_words,
    decision_notice,
    latest_appeal,
)
from cases.trail.models import CaseEvent
from workflows import get_state


class PublicStatus(StrEnum):
    """Where a case stands, in the words the public sees."""

    received = "received"
    under_review = "under review"
    action_taken = "action taken"
    no_action = "no action"
    closed = "closed"

    @property
    def explanation(self) -> str:
        return STATUS_EXPLANATIONS[self]


STATUS_EXPLANATIONS = {
    PublicStatus.received: "We have received it; a reviewer will look at it soon.",
    PublicStatus.under_review: "A reviewer is looking into it.",
    PublicStatus.action_taken: "We found a breach of our usage policies and acted on it.",
    PublicStatus.no_action: "We reviewed it and found no breach of our usage policies to act on.",
    PublicStatus.closed: "The case is closed.",
}


@dataclass(frozen=True)
class ReporterView:
    reference: str
    received_at: datetime
    category: str
    status: PublicStatus
    outcome: str | None


@dataclass(frozen=True)
class AffectedUserView:
    reference: str
    status: PublicStatus
    subject: str
    notice: DecisionNotice | None


def public_status(session: Session, *, case: Case) -> PublicStatus:
    """The case's stage in plain words; once an outcome is known, what it was."""
    state = get_state(case_workflow(session, case), case.state)
    if state.terminal:
        return PublicStatus.closed
    if case.stage == Stage.intake:
        return PublicStatus.received
    # Staff still have work to do before an outcome: a queue in a non-resolved stage.
    outcome_known = case.stage == Stage.resolved or (
        case.stage == Stage.enforcement and state.queue is None
    )
    if not outcome_known:
        return PublicStatus.under_review
    decision = latest_decision(session, case.id)
    if decision is None:
        reported = session.exec(
            select(CaseEvent.id).where(
                CaseEvent.case_id == case.id, CaseEvent.type == EventType.ncmec_report_finished
            )
        ).first()
        return PublicStatus.action_taken if reported is not None else PublicStatus.no_action
    appeal = latest_appeal(session, decision)
    lifted = appeal is not None and appeal.outcome == AppealOutcome.reversed
    if decision.restriction == Restriction.no_action or lifted:
        return PublicStatus.no_action
    return PublicStatus.action_taken


def reporter_view(session: Session, *, report: Report) -> ReporterView:
    """A reporter's own report and what became of it; nothing about other people."""
    case = session.get(Case, report.case_id)
    status = public_status(session, case=case)
    outcome = None
    if status in (PublicStatus.action_taken, PublicStatus.no_action, PublicStatus.closed):
        decision = latest_decision(session, case.id)
        if decision is not None:
            label, _ = clause_words(decision.policy_clause)
            words = RESTRICTION_WORDS.get(decision.restriction, decision.restriction)
            outcome = f"Decided on {decision.decided_at:%d %B %Y}: {words} ({label})."
    return ReporterView(
        reference=case.reference,
        received_at=report.received_at,
        category=clause_words(report.policy_clause)[0],
        status=status,
        outcome=outcome,
    )


def affected_user_view(session: Session, *, case: Case) -> AffectedUserView:
    """The decision about the affected user and how to appeal it; no reporter is named."""
    subject = session.get(Subject, case.subject_id)
    return AffectedUserView(
        reference=case.reference,
        status=public_status(session, case=case),
        subject=subject.display or subject.external_id,
        notice=decision_notice(session, case=case),
    )
