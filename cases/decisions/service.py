"""Decisions: what a deciding transition imposes, with its statement of reasons (DSA Art. 17(3)).

`decide_case` is the one way to fire a deciding transition: it validates the terms, fires the
transition through `transition_case`, and writes the `Decision` row and its `decision` event in the
same transaction, so a decision never exists without its transition or the other way round.
Callers that offer every transition (the case page, an API) use `fire_transition`, which routes
deciding ones here. A workflow declares which transitions decide (`decides` in its TOML): a first
`decision`, a `partial_reversal` (a lesser restriction on appeal) or a `reversal` (the restriction
lifted: a `no_action` decision, so that the enforcement webhook the workflow sends tells the
platform to lift it) or a `dismissal` (a `no_action` decision not to act on the reports, so its
author is known when a reporter appeals it). A transition that `ends_appeal` also closes the open
appeal with its outcome (`cases.appeals.service.record_outcome`) in the same transaction.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from cases.appeals.service import record_outcome
from cases.core.errors import InputInvalid
from cases.core.sqltypes import utcnow
from cases.enums import AppealOutcome, EventType, GroundKind, Restriction
from cases.lifecycle.actors import Actor
from cases.lifecycle.deployed import definitions
from cases.lifecycle.transitions import (
    appeal_window,
    case_workflow,
    latest_decision,
    transition_case,
)
from cases.models import Case, Decision
from cases.notices.wording import (
    APPEAL_OUTCOME_WORDS,
    EEA_COUNTRIES,
    RESTRICTION_WORDS,
    WORLDWIDE,
    DecisionNotice,
    clause_words,
)
from cases.trail.canonical import utc_timestamp
from cases.trail.store import append_event
from workflows import DecisionKind, Transition, get_transition

APPEAL_OUTCOMES = {
    DecisionKind.partial_reversal: AppealOutcome.partially_reversed,
    DecisionKind.reversal: AppealOutcome.reversed,
}

# Restrictions that last for a time need a duration; those that are final or nothing take none.
DURATION_REQUIRED = frozenset({Restriction.temporary_suspension})
DURATION_ALLOWED = DURATION_REQUIRED | {Restriction.feature_restriction}
MAX_DURATION_DAYS = 3650
# The Transparency Database's limits on the free-text elements of a statement of reasons.
MAX_FACTS, MAX_GROUND, MAX_REDRESS = 5000, 2000, 2000
MAX_LEGAL_GROUND = 500  # the law named (illegal_content_legal_ground)
NO_BREACH_GROUND = "No breach of the usage policies was found in what was reported."
REPORTER_REDRESS = (
    "If you reported this, you can appeal the decision not to act free of charge within six "
    "months, through the private link you were given; someone who did not take it will review it."
)
DEFAULT_REDRESS = (
    "You can appeal this decision free of charge within six months, through the private link in "
    "this notice; someone who did not take the decision will review it. You may also refer the "
    "dispute to a certified out-of-court dispute settlement body (DSA Art. 21) or go to court."
)


class DecisionInvalid(InputInvalid):
    """The decision's terms are incomplete or inconsistent; `field` names the input at fault."""


@dataclass(frozen=True)
class StatementOfReasons:
    """The DSA Art. 17(3) elements besides the restriction and the clause."""

    facts: str
    automated_detection: bool
    automated_decision: bool
    ground: str
    redress: str
    ground_kind: GroundKind = GroundKind.contractual
    legal_ground: str | None = None
    """The law named, exactly when `ground_kind` is legal (Art. 17(3)(d))."""


@dataclass(frozen=True)
class DecisionTerms:
    """What a deciding transition imposes, validated."""

    kind: DecisionKind
    policy_clause: str
    restriction: Restriction
    duration_days: int | None
    territorial_scope: tuple[str, ...]
    statement: StatementOfReasons

    def as_fields(self) -> dict[str, Any]:
        """The terms as transition fields (as the `transition` event records them)."""
        return {
            "policy_clause": self.policy_clause,
            "restriction": self.restriction.value,
            "duration_days": self.duration_days,
            "territorial_scope": list(self.territorial_scope),
            "statement_of_reasons": {
                "facts": self.statement.facts,
                "automated_detection": self.statement.automated_detection,
                "automated_decision": self.statement.automated_decision,
                "ground": self.statement.ground,
                "ground_kind": self.statement.ground_kind.value,
                "legal_ground": self.statement.legal_ground,
                "redress": self.statement.redress,
            },
        }


def _text(value: Any, *, field: str, limit: int, label: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise DecisionInvalid(f"{label} is required.", field=field)
    if len(text) > limit:
        raise DecisionInvalid(f"{label} may be at most {limit} characters.", field=field)
    return text


def _flag(value: Any, *, field: str) -> bool:
    if not isinstance(value, bool):
        raise DecisionInvalid("Answer yes or no.", field=field)
    return value


def _ground_kind(value: Any) -> GroundKind:
    if value is None or value == "":
        return GroundKind.contractual  # what every decision was before grounds were told apart
    try:
        return GroundKind(value)
    except (TypeError, ValueError):
        raise DecisionInvalid(
            "Choose a contractual ground (the usage policy) or a legal one (a law).",
            field="ground_kind",
        ) from None


def _legal_ground(value: Any, kind: GroundKind) -> str | None:
    """The law named: required for a legal ground, refused for a contractual one."""
    if value is not None and not isinstance(value, str):
        raise DecisionInvalid("Name the law as text.", field="legal_ground")
    law = (value or "").strip()
    if kind is GroundKind.contractual:
        if law:
            raise DecisionInvalid(
                "A contractual ground names no law: choose a legal ground, or leave this empty.",
                field="legal_ground",
            )
        return None
    if not law:
        raise DecisionInvalid(
            "A legal ground needs the law named (e.g. the act and its article).",
            field="legal_ground",
        )
    if len(law) > MAX_LEGAL_GROUND:
        raise DecisionInvalid(
            f"The law named may be at most {MAX_LEGAL_GROUND} characters.", field="legal_ground"
        )
    return law


def _statement(value: Any) -> StatementOfReasons:
    if not isinstance(value, Mapping):
        raise DecisionInvalid("The statement of reasons is required.", field="facts")
    kind = _ground_kind(value.get("ground_kind"))
    return StatementOfReasons(
        facts=_text(value.get("facts"), field="facts", limit=MAX_FACTS, label="The facts"),
        automated_detection=_flag(value.get("automated_detection"), field="automated_detection"),
        automated_decision=_flag(value.get("automated_decision"), field="automated_decision"),
        ground=_text(value.get("ground"), field="ground", limit=MAX_GROUND, label="The ground"),
        redress=_text(
            value.get("redress"), field="redress", limit=MAX_REDRESS, label="The redress"
        ),
        ground_kind=kind,
        legal_ground=_legal_ground(value.get("legal_ground"), kind),
    )


def _clause(value: Any) -> str:
    try:
        return definitions().policy.clause(value if isinstance(value, str) else "").id
    except KeyError:
        raise DecisionInvalid("Choose a clause of the policy.", field="policy_clause") from None


def _restriction(value: Any) -> Restriction:
    try:
        return Restriction(value)
    except ValueError:
        raise DecisionInvalid("Choose a listed restriction.", field="restriction") from None


def _duration(value: Any, restriction: Restriction) -> int | None:
    if value is None or value == "":
        if restriction in DURATION_REQUIRED:
            raise DecisionInvalid(
                "A temporary restriction needs its length in days.", field="duration_days"
            )
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DURATION_DAYS:
        raise DecisionInvalid(
            f"Give a whole number of days from 1 to {MAX_DURATION_DAYS}.", field="duration_days"
        )
    if restriction not in DURATION_ALLOWED:
        raise DecisionInvalid("This restriction takes no duration.", field="duration_days")
    return value


def _scope(value: Any) -> tuple[str, ...]:
    codes = [] if value in (None, "") else [value] if isinstance(value, str) else value
    # JSON may send anything here: a number or nested lists is refused, not left to crash.
    if not isinstance(codes, list | tuple) or not all(isinstance(c, str) for c in codes):
        raise DecisionInvalid(
            f'Give "{WORLDWIDE}" or a list of country codes (e.g. ["DE", "FR"]).',
            field="territorial_scope",
        )
    if not codes:
        raise DecisionInvalid("Say where the decision applies.", field="territorial_scope")
    unknown = [c for c in codes if c != WORLDWIDE and c not in EEA_COUNTRIES]
    if unknown:
        # Shown back to whoever sent them, so only so much of it.
        shown = ", ".join(c[:12] for c in unknown[:5])
        raise DecisionInvalid(
            f"Unknown country code: {shown}. Use EU/EEA codes such as DE or FR.",
            field="territorial_scope",
        )
    if WORLDWIDE in codes:
        if len(set(codes)) > 1:
            raise DecisionInvalid(
                "Choose worldwide or countries, not both.", field="territorial_scope"
            )
        return (WORLDWIDE,)
    return tuple(sorted(set(codes)))


def decision_terms(
    session: Session, *, case: Case, transition: str, fields: Mapping[str, Any]
) -> DecisionTerms:
    """Validate a deciding transition's fields. An appeal outcome keeps what it does not change
    from the decision under appeal: the clause and scope, and for a reversal, lifts the rest."""
    kind = get_transition(case_workflow(session, case), transition).decides
    if kind is None:
        raise ValueError(f"{transition!r} does not decide")
    if kind is DecisionKind.dismissal:
        return _dismissal(case, fields)
    statement = _statement(fields.get("statement_of_reasons"))
    if kind is DecisionKind.decision:
        restriction = _restriction(fields.get("restriction"))
        return DecisionTerms(
            kind=kind,
            policy_clause=_clause(fields.get("policy_clause")),
            restriction=restriction,
            duration_days=_duration(fields.get("duration_days"), restriction),
            territorial_scope=_scope(fields.get("territorial_scope")),
            statement=statement,
        )
    under_appeal = latest_decision(session, case.id)
    if under_appeal is None:
        raise DecisionInvalid("There is no decision on this case to revise.", field="restriction")
    if kind is DecisionKind.reversal:
        restriction, duration = Restriction.no_action, None
    else:
        restriction = _restriction(fields.get("restriction"))
        if restriction == Restriction.no_action:
            raise DecisionInvalid(
                "To lift the restriction entirely, reverse the decision.", field="restriction"
            )
        duration = _duration(fields.get("duration_days"), restriction)
    scope = fields.get("territorial_scope") or under_appeal.territorial_scope
    return DecisionTerms(
        kind=kind,
        policy_clause=_clause(fields.get("policy_clause") or under_appeal.policy_clause),
        restriction=restriction,
        duration_days=duration,
        territorial_scope=_scope(scope),
        statement=statement,
    )


def _dismissal(case: Case, fields: Mapping[str, Any]) -> DecisionTerms:
    """A decision not to act: the reviewer's note is the facts relied on."""
    return DecisionTerms(
        kind=DecisionKind.dismissal,
        policy_clause=case.policy_clause or "",
        restriction=Restriction.no_action,
        duration_days=None,
        territorial_scope=(WORLDWIDE,),
        statement=StatementOfReasons(
            facts=_text(fields.get("note"), field="note", limit=MAX_FACTS, label="The note"),
            automated_detection=False,
            automated_decision=False,
            ground=NO_BREACH_GROUND,
            redress=REPORTER_REDRESS,
        ),
    )


def decide_case(
    session: Session,
    *,
    case: Case,
    transition: str,
    actor: Actor,
    fields: Mapping[str, Any],
    now: datetime | None = None,
) -> Decision:
    """Fire a deciding transition and record its Decision and `decision` event, atomically."""
    terms = decision_terms(session, case=case, transition=transition, fields=fields)
    chosen = get_transition(case_workflow(session, case), transition)
    event = transition_case(
        session,
        case=case,
        transition=transition,
        actor=actor,
        fields={**fields, **terms.as_fields()},
        now=now,
        deciding=True,
    )
    statement = terms.statement
    decision = Decision(
        case_id=case.id,
        author_id=actor.user_id,
        policy_clause=terms.policy_clause,
        restriction=terms.restriction,
        duration_days=terms.duration_days,
        territorial_scope=list(terms.territorial_scope),
        automated_detection=statement.automated_detection,
        automated_decision=statement.automated_decision,
        facts=statement.facts,
        ground_kind=statement.ground_kind,
        legal_ground=statement.legal_ground,
        ground=statement.ground,
        redress=statement.redress,
        decided_at=event.at,
        transition=transition,
        transition_event_id=event.id,
    )
    session.add(decision)
    session.flush()
    append_event(
        session,
        case=case,
        type=EventType.decision,
        actor=actor.label,
        payload={
            "decision_id": decision.id,
            "transition": transition,
            "transition_seq": event.seq,
            "decided_at": utc_timestamp(decision.decided_at),
            **terms.as_fields(),
        },
    )
    _close_appeal(
        session,
        case=case,
        transition=chosen,
        actor=actor,
        fields=fields,
        decision=decision,
        at=event.at,
    )
    return decision


def fire_transition(
    session: Session,
    *,
    case: Case,
    transition: str,
    actor: Actor,
    fields: Mapping[str, Any],
) -> None:
    """Fire any transition for a caller that offers them all (the case page, an API): deciding
    ones through `decide_case`, so that no decision is ever made without its Decision row."""
    chosen = get_transition(case_workflow(session, case), transition)
    if chosen.decides is not None:
        decide_case(session, case=case, transition=transition, actor=actor, fields=fields)
        return
    event = transition_case(session, case=case, transition=transition, actor=actor, fields=fields)
    _close_appeal(
        session,
        case=case,
        transition=chosen,
        actor=actor,
        fields=fields,
        decision=None,
        at=event.at,
    )


def _close_appeal(
    session: Session,
    *,
    case: Case,
    transition: Transition,
    actor: Actor,
    fields: Mapping[str, Any],
    decision: Decision | None,
    at: datetime,
) -> None:
    # A transition that ends the appeal records its outcome in the same transaction.
    if transition.ends_appeal is not None:
        record_outcome(
            session,
            case=case,
            transition=transition,
            actor=actor,
            fields=fields,
            decision=decision,
            now=at,
        )


def preview_notice(
    session: Session,
    *,
    case: Case,
    transition: str,
    fields: Mapping[str, Any],
    now: datetime | None = None,
) -> DecisionNotice:
    """The statement of reasons the affected user would receive, from unsaved terms."""
    terms = decision_terms(session, case=case, transition=transition, fields=fields)
    now = now or utcnow()
    label, description = clause_words(terms.policy_clause)
    outcome = APPEAL_OUTCOMES.get(terms.kind)
    return DecisionNotice(
        restriction=terms.restriction,
        restriction_words=RESTRICTION_WORDS[terms.restriction],
        duration_days=terms.duration_days,
        territorial_scope=list(terms.territorial_scope),
        clause_label=label,
        clause_description=description,
        facts=terms.statement.facts,
        ground=terms.statement.ground,
        legal_ground=terms.statement.legal_ground,
        automated_detection=terms.statement.automated_detection,
        automated_decision=terms.statement.automated_decision,
        redress=terms.statement.redress,
        decided_at=now,
        appeal_until=now + appeal_window(session, case=case),
        appeal_outcome=APPEAL_OUTCOME_WORDS[outcome] if outcome else None,
    )
