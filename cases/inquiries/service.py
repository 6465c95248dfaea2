"""Provider inquiries: the AI provider asking the operator about its compliance (received, a
deadline, a period and the clauses in question). Each is worked as a case of the
`provider_inquiry` workflow about the operator's own app, so it has a queue, claims, a timeline,
its own trail chain and an SLA whose due time is the provider's deadline; it is answered with a
due-diligence dossier (`cases.inquiries.dossier`), and each dossier generated is a trail event.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cases.accounts.service import record_account_event
from cases.core.errors import InputInvalid
from cases.core.security import PermissionDenied, has_permission
from cases.core.sqltypes import reserve_ids, utcnow
from cases.enums import (
    PROVIDER_INQUIRY_WORKFLOW,
    AccountEventType,
    EventType,
    Permission,
    SubjectKind,
)
from cases.intake.service import case_reference
from cases.lifecycle import sla
from cases.lifecycle.actors import Actor
from cases.lifecycle.deployed import definitions, register_definition
from cases.lifecycle.transitions import GuardContext, guard, transition_case
from cases.models import Case, ProviderInquiry, Subject, User
from cases.trail.canonical import utc_timestamp
from cases.trail.models import CaseEvent, EventPayload
from cases.trail.store import append_event
from workflows import Workflow, get_state
from workflows.model import DOSSIER_GENERATED

# The operator's own app: what an inquiry case is about.
OPERATOR_ID = "operator"
OPERATOR_DISPLAY = "This operator (provider inquiries)"
REFERENCE_MAX = 120  # ProviderInquiry.provider_reference
SUMMARY_MAX = 10_000
ANSWER_TRANSITION = "answer"
ANSWERED = "answered"  # the state it leads to


def may_manage(user: User) -> bool:
    """Whether `user` may record inquiries, generate dossiers and record answers."""
    return has_permission(user.role, Permission.manage_inquiries)


def may_read(user: User) -> bool:
    """Leads and admins work inquiries; auditors read them."""
    return may_manage(user) or has_permission(user.role, Permission.view_audit)


def require_inquiry_role(user: User, *, write: bool) -> None:
    """Raise PermissionDenied unless `user` may see inquiries (with `write`: record them,
    generate dossiers and record answers)."""
    if not (may_manage(user) if write else may_read(user)):
        doing = "work on" if write else "see"
        raise PermissionDenied(f"the {user.role} role may not {doing} provider inquiries")


def check_clauses(clauses: list[str], *, field: str = "clauses") -> list[str]:
    """The clause ids, each known to the taxonomy, without repeats, in the taxonomy's order."""
    known = [clause.id for clause in definitions().policy.clauses]
    unknown = sorted(set(clauses) - set(known))
    if unknown:
        raise InputInvalid(f"Unknown policy clause(s): {', '.join(unknown)}.", field=field)
    return [clause for clause in known if clause in clauses]


def check_period(start: datetime, end: datetime, *, field: str = "period_end") -> None:
    if start >= end:
        raise InputInvalid("The period must start before it ends.", field=field)


def record_inquiry(
    session: Session,
    *,
    provider_reference: str,
    received_at: datetime,
    deadline_at: datetime,
    period_start: datetime,
    period_end: datetime,
    clauses: list[str],
    summary: str,
    actor: Actor,
    now: datetime | None = None,
) -> ProviderInquiry:
    """Open the inquiry's case (due at the provider's deadline) and record what was asked."""
    now = now or utcnow()
    if actor.user is not None:
        require_inquiry_role(actor.user, write=True)
    provider_reference = provider_reference.strip()
    if not provider_reference or len(provider_reference) > REFERENCE_MAX:
        raise InputInvalid(
            f"Give the provider's reference (at most {REFERENCE_MAX} characters).",
            field="provider_reference",
        )
    if len(summary) > SUMMARY_MAX:
        raise InputInvalid(f"At most {SUMMARY_MAX} characters.", field="summary")
    if deadline_at <= received_at:
        raise InputInvalid(
            "The deadline must be after the inquiry was received.", field="deadline_at"
        )
    check_period(period_start, period_end)
    clauses = check_clauses(clauses)
    workflow = definitions().current(PROVIDER_INQUIRY_WORKFLOW)
    case = _open_case(session, workflow=workflow, due_at=deadline_at, now=now)
    inquiry = ProviderInquiry(
        case_id=case.id,
        provider_reference=provider_reference,
        received_at=received_at,
        deadline_at=deadline_at,
        period_start=period_start,
        period_end=period_end,
        clauses=clauses,
        summary=summary,
        recorded_by_id=actor.user_id,
    )
    session.add(inquiry)
    session.flush()
    append_event(
        session,
        case=case,
        type=EventType.inquiry_recorded,
        actor=actor.label,
        payload={
            "inquiry_id": inquiry.id,
            "provider_reference": provider_reference,
            "received_at": utc_timestamp(received_at),
            "deadline_at": utc_timestamp(deadline_at),
            "period": {"start": utc_timestamp(period_start), "end": utc_timestamp(period_end)},
            "clauses": clauses,
            "summary": summary,
        },
    )
    return inquiry


def _open_case(session: Session, *, workflow: Workflow, due_at: datetime, now: datetime) -> Case:
    """The inquiry's case, about the operator, in the workflow's initial state.

    Intake opens its cases set-based, in batches of routed report items (`cases.intake.service`),
    and has no single-case opener to reuse; this takes its reference and the lifecycle's SLA
    clock, then puts the provider's deadline on that clock.
    """
    subject_id = _operator_subject(session)
    register_definition(session, workflow)
    initial = get_state(workflow, workflow.initial)
    (case_id,) = reserve_ids(session, Case.__table__, 1)
    case = Case(
        id=case_id,
        reference=case_reference(case_id=case_id, now=now),
        subject_id=subject_id,
        workflow_name=workflow.name,
        workflow_version=workflow.version,
        workflow_digest=workflow.digest,
        state=initial.name,
        stage=initial.stage,
        queue=initial.queue,
        restricted=workflow.restricted,
        # The provider's questions about the operator itself: the most severe, and first served.
        severity=1,
        priority_band="p1",
        opened_at=now,
        updated_at=now,
    )
    setattr(case, f"{initial.stage}_at", now)
    sla.enter_state(case, workflow, previous=None, now=now)
    # The provider's deadline is the promise; the state's hours only stand in for a missing one.
    case.sla_due_at = due_at
    session.add(case)
    session.flush()
    return case


def _operator_subject(session: Session) -> int:
    """The operator's own app as a subject, made on first use."""
    query = select(Subject.id).where(
        Subject.kind == SubjectKind.app, Subject.external_id == OPERATOR_ID
    )
    found = session.exec(query).first()
    if found is not None:
        return found
    subject = Subject(kind=SubjectKind.app, external_id=OPERATOR_ID, display=OPERATOR_DISPLAY)
    try:
        with session.begin_nested():
            session.add(subject)
    except IntegrityError:  # another inquiry, recorded at the same moment, made it first
        return session.exec(query).one()
    return subject.id


@guard(DOSSIER_GENERATED)
def _dossier_generated(ctx: GuardContext) -> str | None:
    query = select(CaseEvent.id).where(
        CaseEvent.case_id == ctx.case.id, CaseEvent.type == EventType.dossier_generated
    )
    if ctx.session.exec(query.limit(1)).first() is not None:
        return None
    return "generate the dossier first: it is the answer"


def answer_inquiry(
    session: Session,
    *,
    inquiry: ProviderInquiry,
    actor: Actor,
    note: str,
    now: datetime | None = None,
) -> ProviderInquiry:
    """Record the inquiry as answered (refused until a dossier was generated for it)."""
    now = now or utcnow()
    case = session.get(Case, inquiry.case_id)
    fields = {"note": note}
    transition_case(
        session, case=case, transition=ANSWER_TRANSITION, actor=actor, fields=fields, now=now
    )
    return inquiry


@dataclass(frozen=True)
class InquiryRow:
    inquiry: ProviderInquiry
    case: Case
    sla: str
    """The case's SLA clock (`cases.lifecycle.sla.sla_status`)."""

    @property
    def answered_at(self) -> datetime | None:
        # The answer is the case's resolution, however it was fired (here or on the case page).
        return self.case.resolved_at if self.answered else None

    @property
    def answered(self) -> bool:
        return self.case.state == ANSWERED


def list_inquiries(session: Session, *, now: datetime | None = None) -> list[InquiryRow]:
    """Every inquiry with its case, the open ones first, soonest deadline first."""
    now = now or utcnow()
    rows = session.exec(
        select(ProviderInquiry, Case)
        .join(Case, col(Case.id) == ProviderInquiry.case_id)
        .order_by(col(ProviderInquiry.deadline_at), col(ProviderInquiry.id))
    ).all()
    found = [InquiryRow(inquiry, case, sla.sla_status(case, now=now)) for inquiry, case in rows]
    return sorted(found, key=lambda row: row.answered)


class InquiryNotFound(LookupError):
    """No provider inquiry has this id."""


def get_inquiry(session: Session, *, inquiry_id: int, now: datetime | None = None) -> InquiryRow:
    found = session.get(ProviderInquiry, inquiry_id)
    if found is None:
        raise InquiryNotFound(f"There is no provider inquiry {inquiry_id}.")
    case = session.get(Case, found.case_id)
    return InquiryRow(found, case, sla.sla_status(case, now=now or utcnow()))


@dataclass(frozen=True)
class DossierRecord:
    """A dossier generated for an inquiry, as its `dossier_generated` event recorded it."""

    at: datetime
    by: str
    """Who generated it: a staff member's email, or the trail's actor label (the operator)."""
    payload: dict[str, Any]


def dossiers_generated(session: Session, *, case: Case) -> list[DossierRecord]:
    """The dossiers generated for the inquiry worked in `case`, oldest first."""
    rows = session.exec(
        select(CaseEvent, EventPayload)
        .join(EventPayload, col(EventPayload.event_id) == CaseEvent.id, isouter=True)
        .where(CaseEvent.case_id == case.id, CaseEvent.type == EventType.dossier_generated)
        .order_by(col(CaseEvent.seq))
    ).all()
    ids = {int(n) for e, _ in rows if (n := e.actor.removeprefix("user:")).isdigit()}
    staff = {
        f"user:{id}": email
        for id, email in session.exec(select(User.id, User.email).where(col(User.id).in_(ids)))
    }
    return [
        DossierRecord(
            event.at,
            staff.get(event.actor, event.actor),
            json.loads(stored.payload) if stored else {},
        )
        for event, stored in rows
    ]


def record_dossier(
    session: Session,
    *,
    inquiry: ProviderInquiry | None,
    record: dict[str, Any],
    actor_label: str,
    user: User | None,
) -> None:
    """Record that a dossier was generated: on the inquiry's trail, or in the account history
    of whoever generated it when it answers no recorded inquiry."""
    if inquiry is not None:
        append_event(
            session,
            case=session.get(Case, inquiry.case_id),
            type=EventType.dossier_generated,
            actor=actor_label,
            payload=record,
        )
        return
    record_account_event(
        session,
        type=AccountEventType.dossier_generated,
        user=None,
        actor=user,
        detail={**record, "by": actor_label},
    )
