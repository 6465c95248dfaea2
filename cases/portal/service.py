"""What the holder of a private link sees and does: their own report or the decision about them,
in the public's words and without third parties' personal data; their appeal, their answer to a
reviewer's question and their request for a copy of their data, each noted as a use of the link.

A reporter learns the outcome in general terms only (action taken under a clause, or no
violation found): never the affected user's restriction, its duration or scope, nor who they are.
A reporter whose report went to a restricted (child-safety) case learns only that it was received
and that a specialist team handles it.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from cases.appeals.service import AppealOption, appeal_option, file_appeal
from cases.core.security import has_permission
from cases.core.sqltypes import utcnow
from cases.core.uploads import Attachment
from cases.enums import AppealChannel, AppealOutcome, AppellantKind, EventType, Restriction, Stage
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import case_workflow, latest_decision, transition_case
from cases.models import Appeal, Case, Report, StatusLink, Subject, User
from cases.notices.wording import (
    APPEAL_OUTCOME_WORDS,
    DecisionNotice,
    clause_words,
    decision_notice,
    latest_appeal,
)
from cases.portal.links import REVOKE_PERMISSION, case_links, record_use
from cases.trail.models import CaseEvent, EventPayload
from workflows import get_state

PORTAL = Actor.system("portal")

# The system transition that hands the reporter's answer back to triage (workflow `standard`).
ANSWER_TRANSITION = "information_received"
MAX_ANSWER = 5000


class PublicStatus(StrEnum):
    """Where a case stands, in the words the public sees."""

    received = "received"
    under_review = "under review"
    action_taken = "action taken"
    no_action = "no action"
    closed = "closed"
    with_specialists = "with a specialist team"

    @property
    def explanation(self) -> str:
        return STATUS_EXPLANATIONS[self]


STATUS_EXPLANATIONS = {
    PublicStatus.received: "We have received it; a reviewer will look at it soon.",
    PublicStatus.under_review: "A reviewer is looking into it.",
    PublicStatus.action_taken: "We found a breach of our usage policies and acted on it.",
    PublicStatus.no_action: "We reviewed it and found no breach of our usage policies to act on.",
    PublicStatus.closed: "The case is closed.",
    PublicStatus.with_specialists: "We have received it. A specialist team handles it.",
}


class NotOffered(Exception):
    """What the holder asked for is not offered to them now; the message is fit to show them."""


@dataclass(frozen=True)
class ReporterView:
    reference: str
    received_at: datetime
    category: str
    status: PublicStatus
    outcome: str | None  # in general terms: under which clause action was taken, or none


@dataclass(frozen=True)
class AffectedUserView:
    reference: str
    status: PublicStatus
    subject: str
    notice: DecisionNotice | None


@dataclass(frozen=True)
class PortalPage:
    """Everything one link's page shows, and nothing its holder may not see."""

    holder: AppellantKind
    reporter: ReporterView | None
    affected_user: AffectedUserView | None
    # None: nothing this holder could appeal, so the page has no appeal section.
    appeal: AppealOption | None
    # The holder's own latest appeal on the case (for a reporter: about their own report).
    own_appeal: Appeal | None
    question: str | None

    @property
    def appeal_outcome(self) -> str | None:
        """How the holder's own appeal ended, in plain words (None while it is heard)."""
        outcome = self.own_appeal.outcome if self.own_appeal is not None else None
        return APPEAL_OUTCOME_WORDS[outcome] if outcome else None


@dataclass(frozen=True)
class LinkRow:
    """A private link as the case page lists it: never its token."""

    link: StatusLink
    holder: str
    state: str  # active, expired or withdrawn
    revoked_by: User | None
    may_revoke: bool


def public_status(session: Session, *, case: Case) -> PublicStatus:
    """The case's stage in plain words; once an outcome is known, what it was."""
    state = get_state(case_workflow(session, case), case.state)
    if case.stage == Stage.intake:
        return PublicStatus.received
    # Staff still have work to do before an outcome: a queue in a non-resolved stage.
    outcome_known = (
        state.terminal
        or case.stage == Stage.resolved
        or (case.stage == Stage.enforcement and state.queue is None)
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
        if reported is not None:
            return PublicStatus.action_taken
        return PublicStatus.closed if state.terminal else PublicStatus.no_action
    appeal = latest_appeal(session, decision)
    lifted = appeal is not None and appeal.outcome == AppealOutcome.reversed
    if decision.restriction == Restriction.no_action or lifted:
        return PublicStatus.no_action
    return PublicStatus.action_taken


def reporter_view(session: Session, *, report: Report) -> ReporterView:
    """A reporter's own report and, in general terms, what became of it."""
    case = session.get(Case, report.case_id)
    if case.restricted:
        # Not where the case stands nor how it ended: it is the child-safety team's alone.
        return ReporterView(
            reference=case.reference,
            received_at=report.received_at,
            category=clause_words(report.policy_clause)[0],
            status=PublicStatus.with_specialists,
            outcome=None,
        )
    status = public_status(session, case=case)
    outcome = None
    if status == PublicStatus.action_taken:
        decision = latest_decision(session, case.id)
        clause = decision.policy_clause if decision is not None else case.policy_clause
        outcome = f"We took action under {clause_words(clause)[0]}."
    elif status == PublicStatus.no_action:
        outcome = "We found no violation of our usage policies."
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


def open_question(session: Session, *, case: Case) -> str | None:
    """The question the case waits on its reporters to answer, else None."""
    if not get_state(case_workflow(session, case), case.state).waits_on_user:
        return None
    # The transition that put the case where it waits carries the question.
    payload = session.exec(
        select(EventPayload.payload)
        .join(CaseEvent, col(CaseEvent.id) == EventPayload.event_id)
        .where(CaseEvent.case_id == case.id, CaseEvent.type == EventType.transition)
        .order_by(col(CaseEvent.seq).desc())
    ).first()
    fields = json.loads(payload).get("fields", {}) if payload else {}
    return fields.get("question")


def link_report(session: Session, *, link: StatusLink) -> Report | None:
    """The report a reporter's link is about (None for the affected user's link)."""
    return session.get(Report, link.report_id) if link.report_id is not None else None


def own_appeal(session: Session, *, link: StatusLink) -> Appeal | None:
    """The latest appeal the link's holder filed on its case (a reporter: on their report)."""
    statement = select(Appeal).where(
        Appeal.case_id == link.case_id, Appeal.appellant == link.holder
    )
    if link.holder == AppellantKind.reporter:
        statement = statement.where(Appeal.report_id == link.report_id)
    return session.exec(statement.order_by(col(Appeal.id).desc())).first()


def portal_page(session: Session, *, link: StatusLink, now: datetime | None = None) -> PortalPage:
    """What the link's page shows its holder now."""
    case = session.get(Case, link.case_id)
    holder = AppellantKind(link.holder)
    report = link_report(session, link=link)
    option = appeal_option(session, case=case, appellant=holder, report=report, now=now)
    mine = own_appeal(session, link=link)
    if holder == AppellantKind.reporter:
        # A reporter may appeal only a decision not to act on their report; of any other they
        # learn nothing beyond the outcome in general terms.
        appealable = option.decision is not None and (
            option.decision.restriction == Restriction.no_action
        )
        return PortalPage(
            holder=holder,
            reporter=reporter_view(session, report=report),
            affected_user=None,
            appeal=option if appealable or mine is not None else None,
            own_appeal=mine,
            question=open_question(session, case=case),
        )
    return PortalPage(
        holder=holder,
        reporter=None,
        affected_user=affected_user_view(session, case=case),
        appeal=option if option.decision is not None else None,
        own_appeal=mine,
        question=None,
    )


def appeal_through_link(
    session: Session,
    *,
    link: StatusLink,
    grounds: str,
    attachments: Sequence[Attachment] = (),
    now: datetime | None = None,
) -> Appeal:
    """File the holder's appeal from their private page (AppealRefused or AppealInvalid when it
    cannot be), noting the link's use."""
    appeal = file_appeal(
        session,
        case=session.get(Case, link.case_id),
        appellant=AppellantKind(link.holder),
        report=link_report(session, link=link),
        grounds=grounds,
        channel=AppealChannel.portal,
        actor=PORTAL,
        attachments=attachments,
        now=now,
    )
    record_use(session, link=link, action="appealed", now=now)
    return appeal


def answer_question(
    session: Session, *, link: StatusLink, answer: str, now: datetime | None = None
) -> CaseEvent:
    """Hand a reporter's answer back to the reviewers: the case returns to triage with the
    answer on the trail (NotOffered when nothing is asked of this holder)."""
    case = session.get(Case, link.case_id)
    if link.holder != AppellantKind.reporter or open_question(session, case=case) is None:
        raise NotOffered("There is no open question for you on this case.")
    event = transition_case(
        session,
        case=case,
        transition=ANSWER_TRANSITION,
        actor=PORTAL,
        fields={"answer": answer.strip()},
        now=now,
    )
    record_use(session, link=link, action="answered", now=now)
    return event


def link_rows(
    session: Session, *, case: Case, viewer: User, now: datetime | None = None
) -> list[LinkRow]:
    """The case's private links for its case page, newest first, and whether `viewer` may
    withdraw each."""
    now = now or utcnow()
    may_revoke = has_permission(viewer.role, REVOKE_PERMISSION)
    rows = []
    for link in case_links(session, case=case):
        if link.revoked_at is not None:
            state = "withdrawn"
        elif now >= link.expires_at:
            state = "expired"
        else:
            state = "active"
        rows.append(
            LinkRow(
                link=link,
                holder="affected user"
                if link.holder == AppellantKind.affected_user
                else f"reporter (report {link.report_id})",
                state=state,
                revoked_by=session.get(User, link.revoked_by_id) if link.revoked_by_id else None,
                may_revoke=may_revoke and state == "active",
            )
        )
    return rows
