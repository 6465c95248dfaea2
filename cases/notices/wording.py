"""What a person is told about a decision: the statement of reasons in plain words (DSA Art.
17(3)), shared by the notices, the decision preview and the affected user's page."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from cases.enums import AppealOutcome, Restriction
from cases.lifecycle.deployed import definitions
from cases.lifecycle.transitions import APPEAL_WINDOW, latest_decision
from cases.models import Appeal, Case, Decision

RESTRICTION_WORDS = {
    Restriction.warn: "a warning",
    Restriction.content_removal: "the content was removed",
    Restriction.feature_restriction: "some features were restricted",
    Restriction.temporary_suspension: "the account was suspended for a time",
    Restriction.termination: "the account was closed",
    Restriction.api_key_revocation: "the API key was revoked",
    Restriction.no_action: "no action: no breach of the policies was found",
}


APPEAL_OUTCOME_WORDS = {
    AppealOutcome.upheld: "The appeal was rejected: the decision stands.",
    AppealOutcome.partially_reversed: "The appeal succeeded in part: the decision was changed.",
    AppealOutcome.reversed: "The appeal succeeded: the decision was reversed.",
    AppealOutcome.omitted: "The appeal was closed without a review (withdrawn or not admissible).",
}


@dataclass(frozen=True)
class DecisionNotice:
    """A decision as its statement of reasons presents it (DSA Art. 17(3))."""

    restriction: str
    restriction_words: str
    duration_days: int | None
    territorial_scope: list[str]
    clause_label: str
    clause_description: str
    facts: str
    ground: str
    automated_detection: bool
    automated_decision: bool
    redress: str
    decided_at: datetime
    appeal_until: datetime
    appeal_outcome: str | None


def clause_words(clause_id: str | None) -> tuple[str, str]:
    """A clause's label and plain description (its id when the taxonomy no longer has it)."""
    try:
        clause = definitions().policy.clause(clause_id or "")
    except KeyError:
        return clause_id or "unspecified", ""
    return clause.label, clause.description


def latest_appeal(session: Session, decision: Decision) -> Appeal | None:
    return session.exec(
        select(Appeal).where(Appeal.decision_id == decision.id).order_by(col(Appeal.id).desc())
    ).first()


def decision_made(session: Session, *, case: Case, event_id: int | None = None) -> Decision | None:
    """The decision transition event `event_id` made, else the case's latest decision."""
    if event_id is not None:
        made = session.exec(
            select(Decision).where(
                Decision.case_id == case.id, Decision.transition_event_id == event_id
            )
        ).first()
        if made is not None:
            return made
    return latest_decision(session, case.id)


def decision_notice(
    session: Session, *, case: Case, event_id: int | None = None
) -> DecisionNotice | None:
    """The statement of reasons of a decision on the case (see `decision_made`), as the affected
    user sees it; None before any decision."""
    decision = decision_made(session, case=case, event_id=event_id)
    if decision is None:
        return None
    label, description = clause_words(decision.policy_clause)
    appeal = latest_appeal(session, decision)
    outcome = appeal.outcome if appeal is not None else None
    return DecisionNotice(
        restriction=decision.restriction,
        restriction_words=RESTRICTION_WORDS.get(decision.restriction, decision.restriction),
        duration_days=decision.duration_days,
        territorial_scope=list(decision.territorial_scope),
        clause_label=label,
        clause_description=description,
        facts=decision.facts,
        ground=decision.ground,
        automated_detection=decision.automated_detection,
        automated_decision=decision.automated_decision,
        redress=decision.redress,
        decided_at=decision.decided_at,
        appeal_until=decision.decided_at + APPEAL_WINDOW,
        appeal_outcome=APPEAL_OUTCOME_WORDS.get(outcome) if outcome else None,
    )
