"""Intake: a misuse report or a detected violation becomes a report on a case.

Routing: the reporter's category, or the highest detected moderation category, names a policy
clause (policy.toml); the clause names the workflow (child-safety clauses open `child_safety`) and
the default severity. Grouping: a report about a subject that already has an open case in that
workflow attaches to it (an event and a counter) instead of opening another; the subject row is
locked first so two reports arriving together cannot both open a case.
"""

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, and_, col, func, or_, select

from cases import sla
from cases.actors import Actor
from cases.definitions import definitions, register_definition
from cases.enums import EventType, ReportSource, Restriction, Stage
from cases.models import Case, Decision, Report, Subject
from cases.moderation import ModerationResult
from cases.outbox import enqueue_job
from cases.priority import priority
from cases.sqltypes import utcnow
from cases.trail.store import append_event
from workflows import Clause, get_state


class IntakeError(ValueError):
    """The item cannot be routed; `field` names what is wrong."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SubjectRef:
    kind: str
    external_id: str
    display: str | None = None


@dataclass(frozen=True)
class IntakeItem:
    """One report or detection, validated by the view or API that received it."""

    source: ReportSource
    subject: SubjectRef
    raw_payload: str
    clause_id: str | None = None
    moderation: ModerationResult | None = None
    source_name: str | None = None
    location: str | None = None
    explanation: str | None = None
    reporter_name: str | None = None
    reporter_email: str | None = None
    good_faith: bool = False
    content_ref: str | None = None
    occurred_at: datetime | None = None
    api_key_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IntakeOutcome:
    report: Report
    case: Case
    opened: bool


def route(item: IntakeItem) -> tuple[Clause, int]:
    """The policy clause and severity for an item (severity 4 when nothing passed the threshold)."""
    policy = definitions().policy
    if item.clause_id:
        try:
            clause = policy.clause(item.clause_id)
        except KeyError:
            raise IntakeError(f"unknown category {item.clause_id!r}", field="category") from None
        return clause, clause.severity
    if item.moderation is None:
        raise IntakeError("a category or a moderation result is required", field="category")
    detected = item.moderation.detected()
    if detected:
        clause = policy.clauses_for_moderation(detected[0][0])[0]
        return clause, clause.severity
    scores = sorted(item.moderation.scores.items(), key=lambda kv: (-kv[1], kv[0]))
    if not scores:
        raise IntakeError("the moderation result has no scores", field="moderation")
    return policy.clauses_for_moderation(scores[0][0])[0], 4


def reporter_key(item: IntakeItem, report_id: int) -> str:
    if item.reporter_email:
        return f"email:{item.reporter_email.strip().lower()}"
    if item.api_key_id is not None:
        return f"integration:{item.api_key_id}:{item.source_name or ''}"
    return f"anonymous:{report_id}"


def _insert_subjects(session: Session, subjects: Sequence[SubjectRef]) -> None:
    """Create the subjects that do not exist yet (rows are inserted in the order given)."""
    dialect = session.bind.dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Subject)
    now = utcnow()
    rows = [
        {"kind": s.kind, "external_id": s.external_id, "display": s.display, "created_at": now}
        for s in subjects
    ]
    session.exec(insert.values(rows).on_conflict_do_nothing(index_elements=["kind", "external_id"]))


def lock_subject(session: Session, subject: SubjectRef) -> Subject:
    """The subject row, created if new, locked for this transaction (PostgreSQL FOR UPDATE;
    SQLite's BEGIN IMMEDIATE already serialises writers)."""
    _insert_subjects(session, [subject])
    return session.exec(
        select(Subject)
        .where(Subject.kind == subject.kind, Subject.external_id == subject.external_id)
        .with_for_update()
    ).one()


def lock_subjects(session: Session, subjects: Iterable[SubjectRef]) -> None:
    """Create and lock many subjects at once, in (kind, id) order, before any other lock.

    A batch that locked its subjects item by item would hold some while waiting for the log head,
    and another batch naming the same subjects in another order would deadlock with it. Taking
    them all first, in one order, leaves every transaction the same lock order: subjects, then
    their cases, then the log head.
    """
    unique = dict(sorted({(s.kind, s.external_id): s for s in subjects}.items()))
    if not unique:
        return
    _insert_subjects(session, list(unique.values()))
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, external_id in unique:
        by_kind[kind].append(external_id)
    session.exec(
        select(Subject.id)
        .where(
            or_(
                *(
                    and_(Subject.kind == kind, col(Subject.external_id).in_(ids))
                    for kind, ids in by_kind.items()
                )
            )
        )
        .order_by(Subject.kind, Subject.external_id)
        .with_for_update()
    ).all()


def open_case_for(session: Session, *, subject_id: int, workflow: str) -> Case | None:
    """The subject's open case in `workflow`, if any (not in a resolved stage)."""
    return session.exec(
        select(Case)
        .where(
            Case.subject_id == subject_id,
            Case.workflow_name == workflow,
            Case.stage != Stage.resolved,
        )
        .order_by(col(Case.id).desc())
        .with_for_update()
    ).first()


def prior_enforced(session: Session, *, subject_id: int, excluding: int | None) -> int:
    """Earlier cases about the subject that ended in a restriction."""
    query = (
        select(func.count(sa.distinct(Case.id)))
        .join(Decision, Decision.case_id == Case.id)
        .where(Case.subject_id == subject_id, Decision.restriction != Restriction.no_action)
    )
    if excluding is not None:
        query = query.where(Case.id != excluding)
    return session.exec(query).one()


def refresh_priority(
    session: Session, case: Case, *, source: str, top_score: int, now: datetime
) -> None:
    """Recompute the case's score and band from its reports (the SLA follows the band)."""
    reporters = session.exec(
        select(func.count(sa.distinct(Report.reporter_key))).where(Report.case_id == case.id)
    ).one()
    result = priority(
        severity=case.severity,
        source=source,
        top_score=top_score,
        reporters=reporters,
        prior_enforced=prior_enforced(session, subject_id=case.subject_id, excluding=case.id),
        opened_at=case.opened_at,
        now=now,
    )
    case.reporter_count = reporters
    case.priority = result.score
    case.priority_band = result.band


def receive(
    session: Session, *, item: IntakeItem, actor: Actor, now: datetime | None = None
) -> IntakeOutcome:
    """Record the item as a report, on the subject's open case or on a new one."""
    now = now or utcnow()
    clause, severity = route(item)
    workflow = definitions().current(clause.workflow)
    subject = lock_subject(session, item.subject)
    case = open_case_for(session, subject_id=subject.id, workflow=workflow.name)
    opened = case is None
    if opened:
        case = _open_case(
            session, subject=subject, workflow=workflow, clause=clause, severity=severity, now=now
        )
    else:
        case.severity = min(case.severity, severity)
    report = Report(
        case_id=case.id,
        source=item.source,
        source_name=item.source_name,
        policy_clause=clause.id,
        location=item.location,
        explanation=item.explanation,
        reporter_name=item.reporter_name,
        reporter_email=item.reporter_email,
        good_faith=item.good_faith,
        lacks_notice_contact=_lacks_notice_contact(item, clause),
        content_ref=item.content_ref,
        moderation_scores=item.moderation.scores if item.moderation else {},
        occurred_at=item.occurred_at,
        raw_payload=item.raw_payload,
        payload_sha256=hashlib.sha256(item.raw_payload.encode("utf-8")).hexdigest(),
        api_key_id=item.api_key_id,
        received_at=now,
    )
    session.add(report)
    session.flush()
    report.reporter_key = reporter_key(item, report.id)
    case.report_count += 1
    case.updated_at = now
    refresh_priority(
        session,
        case,
        source=item.source,
        top_score=item.moderation.top_score if item.moderation else 0,
        now=now,
    )
    if opened:
        sla.enter_state(case, workflow, previous=None, now=now)
    session.add(case)
    append_event(
        session,
        case=case,
        type=EventType.intake if opened else EventType.report_attached,
        actor=actor.label,
        payload=_report_payload(item, report, clause, case),
    )
    if item.reporter_email:
        enqueue_job(
            session,
            job="notify_reporter",
            args={"case_id": case.id, "report_id": report.id, "kind": "acknowledgement"},
            case_id=case.id,
        )
    return IntakeOutcome(report=report, case=case, opened=opened)


def _lacks_notice_contact(item: IntakeItem, clause: Clause) -> bool:
    # DSA Art. 16(2)(c): name and email are part of a notice, except for child sexual abuse.
    if item.source != ReportSource.user_report or clause.workflow == "child_safety":
        return False
    return not (item.reporter_name and item.reporter_email)


def _open_case(
    session: Session, *, subject: Subject, workflow, clause: Clause, severity: int, now: datetime
) -> Case:
    register_definition(session, workflow)
    initial = get_state(workflow, workflow.initial)
    case = Case(
        reference=f"pending-{uuid.uuid4().hex[:24]}",  # unique until renamed; fits String(32)
        subject_id=subject.id,
        workflow_name=workflow.name,
        workflow_version=workflow.version,
        workflow_digest=workflow.digest,
        state=initial.name,
        stage=initial.stage,
        queue=initial.queue,
        policy_clause=clause.id,
        severity=severity,
        restricted=workflow.restricted,
        opened_at=now,
        updated_at=now,
        intake_at=now,
    )
    session.add(case)
    session.flush()
    # The reference carries the database id, so it is unique without a counter table.
    case.reference = f"DK-{now.year}-{case.id:06d}"
    return case


def _report_payload(item: IntakeItem, report: Report, clause: Clause, case: Case) -> dict:
    """What the trail keeps of a report (personal data lives here, so erasure can remove it)."""
    payload: dict[str, Any] = {
        "report_id": report.id,
        "source": item.source.value,
        "source_name": item.source_name,
        "policy_clause": clause.id,
        "workflow": case.workflow_name,
        "subject": {"kind": item.subject.kind, "id": item.subject.external_id},
        "payload_sha256": report.payload_sha256,
        "priority": {"score": case.priority, "band": case.priority_band},
    }
    if item.moderation is not None:
        payload["moderation"] = {"scores": item.moderation.scores, "model": item.moderation.model}
    if item.source == ReportSource.user_report:
        payload["notice"] = {
            "location": item.location,
            "explanation": item.explanation,
            "reporter_name": item.reporter_name,
            "reporter_email": item.reporter_email,
            "good_faith": item.good_faith,
            "lacks_notice_contact": report.lacks_notice_contact,
        }
    return payload
