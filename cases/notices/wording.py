"""What a person is told about a decision: the statement of reasons in plain words (DSA Art.
17(3)), shared by the messages (text and HTML), the decision preview and the affected user's page.

Each element of the statement is worded once here, as a property of `DecisionNotice`, so that every
rendering says the same thing; the redress around it is worded in `templates/notices/`."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlmodel import Session, col, or_, select

from cases.core.sqltypes import utcnow
from cases.enums import AppealOutcome, AppellantKind, GroundKind, Restriction
from cases.lifecycle.deployed import definitions
from cases.lifecycle.transitions import appeal_window, appeal_window_closes_at, latest_decision
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

WORLDWIDE = "worldwide"
# The EU and EEA countries, as the DSA Transparency Database spells them (ISO 3166-1 alpha-2).
EEA_COUNTRIES = {
    "AT": "Austria", "BE": "Belgium", "BG": "Bulgaria", "CY": "Cyprus", "CZ": "Czechia",
    "DE": "Germany", "DK": "Denmark", "EE": "Estonia", "ES": "Spain", "FI": "Finland",
    "FR": "France", "GR": "Greece", "HR": "Croatia", "HU": "Hungary", "IE": "Ireland",
    "IS": "Iceland", "IT": "Italy", "LI": "Liechtenstein", "LT": "Lithuania", "LU": "Luxembourg",
    "LV": "Latvia", "MT": "Malta", "NL": "Netherlands", "NO": "Norway", "PL": "Poland",
    "PT": "Portugal", "RO": "Romania", "SE": "Sweden", "SI": "Slovenia", "SK": "Slovakia",
}  # fmt: skip
# Restrictions that are over once done, so "how long" has no answer beyond saying so.
WITHOUT_DURATION = {
    Restriction.warn: "Not applicable: a warning has no duration.",
    Restriction.content_removal: "Not applicable: the content stays removed.",
    Restriction.no_action: "Not applicable: nothing was restricted.",
}
INDEFINITE = "No end date: it stays in place unless it is lifted, for example on appeal."


def long_date(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}"


def long_time(moment: datetime) -> str:
    return f"{long_date(moment)}, {moment:%H:%M} UTC"


@dataclass(frozen=True)
class DisputeBody:
    """A certified out-of-court dispute settlement body (DSA Art. 21)."""

    name: str
    url: str


def dispute_settlement_bodies() -> tuple[DisputeBody, ...]:
    """The bodies named in notices (DISPUTE_SETTLEMENT_BODIES)."""
    return tuple(
        DisputeBody(name=body["name"], url=body["url"])
        for body in current_app.config["DISPUTE_SETTLEMENT_BODIES"]
    )


@dataclass(frozen=True)
class DecisionNotice:
    """A decision as its statement of reasons presents it (DSA Art. 17(3)), and, after the
    affected user's appeal, its outcome (Art. 20(5))."""

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
    appeal_reasons: str | None = None
    legal_ground: str | None = None
    """The law named when the ground is legal; None for a contractual ground (the clause)."""
    dispute_bodies: tuple[DisputeBody, ...] = field(default_factory=dispute_settlement_bodies)

    @property
    def restriction_sentence(self) -> str:
        return f"{self.restriction_words[:1].upper()}{self.restriction_words[1:]}."

    @property
    def ends_at(self) -> datetime | None:
        """When a restriction for a number of days ends (it applies from the decision)."""
        if not self.duration_days:
            return None
        return self.decided_at + timedelta(days=self.duration_days)

    @property
    def duration_words(self) -> str:
        if self.ends_at is not None:
            return f"{self.duration_days} days, until {long_time(self.ends_at)}."
        return WITHOUT_DURATION.get(self.restriction, INDEFINITE)

    @property
    def scope_words(self) -> str:
        if not self.territorial_scope or WORLDWIDE in self.territorial_scope:
            return "Everywhere (worldwide)."
        names = (EEA_COUNTRIES.get(code, code) for code in self.territorial_scope)
        return f"In these countries only: {', '.join(names)}."

    @property
    def clause_words(self) -> str:
        if self.clause_description:
            return f"{self.clause_label}: {self.clause_description}"
        return self.clause_label

    @property
    def detection_words(self) -> str:
        if self.automated_detection:
            return "Automated means were used to detect it."
        return "No automated means were used to detect it."

    @property
    def decision_words(self) -> str:
        if self.automated_decision:
            return "The decision was taken by automated means."
        return "The decision was taken by a person, not by automated means."

    @property
    def decided_on(self) -> str:
        return long_date(self.decided_at)

    @property
    def appeal_open(self) -> bool:
        return utcnow() < self.appeal_until

    @property
    def appeal_until_words(self) -> str:
        return long_time(self.appeal_until)


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


def heard_appeal(session: Session, *, decision: Decision) -> Appeal | None:
    """The affected user's decided appeal against `decision`, or the one that resulted in it.
    A reporter's appeal is not the affected user's business: its reasons are for the reporter."""
    return session.exec(
        select(Appeal)
        .where(
            Appeal.appellant == AppellantKind.affected_user,
            col(Appeal.outcome).is_not(None),
            or_(Appeal.decision_id == decision.id, Appeal.resulting_decision_id == decision.id),
        )
        .order_by(col(Appeal.id).desc())
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
    session: Session,
    *,
    case: Case,
    event_id: int | None = None,
    decision: Decision | None = None,
    as_of: datetime | None = None,
) -> DecisionNotice | None:
    """The statement of reasons of `decision` (default: see `decision_made`) as the affected user
    sees it; None before any decision. `as_of`: when a message about to be sent was written. The
    appeal window runs from the first delivery, which comes no earlier, so a notice never
    promises more time than the person has."""
    decision = decision or decision_made(session, case=case, event_id=event_id)
    if decision is None:
        return None
    label, description = clause_words(decision.policy_clause)
    appeal = heard_appeal(session, decision=decision)
    appeal_until = appeal_window_closes_at(session, case=case, decision=decision)
    if decision.informed_at is None and as_of is not None:
        appeal_until = as_of + appeal_window(session, case=case)
    return DecisionNotice(
        restriction=decision.restriction,
        restriction_words=RESTRICTION_WORDS.get(decision.restriction, decision.restriction),
        duration_days=decision.duration_days,
        territorial_scope=list(decision.territorial_scope),
        clause_label=label,
        clause_description=description,
        facts=decision.facts,
        ground=decision.ground,
        legal_ground=decision.legal_ground if decision.ground_kind == GroundKind.legal else None,
        automated_detection=decision.automated_detection,
        automated_decision=decision.automated_decision,
        redress=decision.redress,
        decided_at=decision.decided_at,
        appeal_until=appeal_until,
        appeal_outcome=APPEAL_OUTCOME_WORDS.get(appeal.outcome) if appeal else None,
        appeal_reasons=appeal.reasons if appeal else None,
    )
