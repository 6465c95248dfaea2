"""What the case page shows, assembled from the working tables and the trail (reads only).

The timeline is rendered from the trail itself (events and their payloads, erased ones shown as
erased) beside the result of verifying the case's hash chain; the priority score is recomputed
with its factors so the page can say why the case sits where it does in the queue.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlmodel import Session, col, func, select

from cases.accounts.access import visible_cases
from cases.child_safety.holds import CaseHolds, case_holds
from cases.child_safety.ncmec.service import ReportPanel, report_panel
from cases.core.security import has_permission
from cases.enums import EventType, Permission
from cases.evidence.service import EvidenceItem, list_evidence
from cases.intake.moderation import DETECTION_THRESHOLD, SCALE
from cases.intake.priority import PriorityScore, priority
from cases.intake.service import count_reporters, prior_enforced
from cases.lifecycle.deployed import definitions
from cases.lifecycle.sla import sla_status
from cases.lifecycle.transitions import case_workflow
from cases.models import Appeal, Case, Decision, PendingApproval, Report, Subject, User
from cases.notices.service import MessageLine, case_messages
from cases.portal.service import LinkRow, link_rows
from cases.review.claims import claim_is_live
from cases.trail.events import TrailError, verify_chain
from cases.trail.models import CaseEvent, EventPayload
from cases.trail.store import to_record
from workflows import Clause, ModerationCategory, State, Workflow, get_state
from workflows.graph import to_svg

CATEGORY_ORDER = [c.value for c in ModerationCategory]


@dataclass(frozen=True)
class ScoreBar:
    category: str
    points: int  # basis points
    hot: bool  # at or over the detection threshold

    @property
    def percent(self) -> str:
        return f"{self.points * 100 / SCALE:.1f}"


@dataclass(frozen=True)
class ReportView:
    report: Report
    hash_matches: bool  # the stored payload still hashes to its recorded SHA-256
    scores: list[ScoreBar]


@dataclass(frozen=True)
class PriorCase:
    case: Case
    decisions: list[Decision]
    enforcement_attempts: int


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    type: str
    actor: str
    at: datetime
    summary: str
    payload: dict[str, Any] | None  # None once erased

    @property
    def payload_text(self) -> str:
        return json.dumps(self.payload, indent=2, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Verification:
    ok: bool
    message: str


@dataclass(frozen=True)
class CasePage:
    case: Case
    subject: Subject
    workflow: Workflow
    state: State
    clause: Clause | None
    sla: str
    assignee: User | None
    claim_live: bool
    may_work: bool
    history: list[PriorCase]
    reports: list[ReportView]
    priority: PriorityScore
    evidence: list[EvidenceItem]
    decisions: list[Decision]
    appeals: list[Appeal]
    notice_messages: list[MessageLine]
    links: list[LinkRow]
    holds: CaseHolds
    ncmec: ReportPanel | None
    timeline: list[TimelineEntry]
    notes: list[TimelineEntry]
    verification: Verification
    diagram: Markup
    pending: list[tuple[PendingApproval, str]]
    people: dict[str, str]


def score_bars(scores: dict[str, int]) -> list[ScoreBar]:
    """Every scored category, in the moderation endpoint's order, then any others by name."""
    order = {name: i for i, name in enumerate(CATEGORY_ORDER)}
    names = sorted(scores, key=lambda n: (order.get(n, len(order)), n))
    return [ScoreBar(n, scores[n], scores[n] >= DETECTION_THRESHOLD) for n in names]


def explain_priority(session: Session, *, case: Case, now: datetime) -> PriorityScore:
    """The score as intake would compute it now: the latest report's source and top score,
    distinct reporters, the subject's other enforced cases, and the case's age."""
    latest = session.exec(
        select(Report).where(Report.case_id == case.id).order_by(col(Report.id).desc())
    ).first()
    reporters, anonymous = count_reporters(session, case_id=case.id)
    return priority(
        severity=case.severity,
        source=latest.source if latest else "internal",
        top_score=max(latest.moderation_scores.values(), default=0) if latest else 0,
        reporters=reporters,
        anonymous=anonymous,
        prior_enforced=prior_enforced(session, subject_id=case.subject_id, excluding=case.id),
        opened_at=case.opened_at,
        now=now,
    )


def _history(session: Session, *, case: Case, viewer: User) -> list[PriorCase]:
    others = session.exec(
        visible_cases(viewer)
        .where(Case.subject_id == case.subject_id, Case.id != case.id)
        .order_by(col(Case.opened_at).desc())
    ).all()
    if not others:
        return []
    ids = [c.id for c in others]
    decisions: dict[int, list[Decision]] = {i: [] for i in ids}
    for decision in session.exec(
        select(Decision).where(col(Decision.case_id).in_(ids)).order_by(col(Decision.id))
    ):
        decisions[decision.case_id].append(decision)
    attempts = dict(
        session.exec(
            select(CaseEvent.case_id, func.count())
            .where(col(CaseEvent.case_id).in_(ids), CaseEvent.type == EventType.enforcement_sent)
            .group_by(CaseEvent.case_id)
        ).all()
    )
    return [PriorCase(c, decisions[c.id], attempts.get(c.id, 0)) for c in others]


def _reports(session: Session, case: Case) -> list[ReportView]:
    reports = session.exec(
        select(Report).where(Report.case_id == case.id).order_by(col(Report.id))
    ).all()
    return [
        ReportView(
            report=r,
            hash_matches=hashlib.sha256(r.raw_payload.encode("utf-8")).hexdigest()
            == r.payload_sha256,
            scores=score_bars(r.moderation_scores),
        )
        for r in reports
    ]


def _state_label(workflow: Workflow, name: Any) -> str:
    try:
        return get_state(workflow, name).label
    except LookupError:
        return str(name)


def summarize(type: str, p: dict[str, Any] | None, *, workflow: Workflow, people) -> str:
    """One line saying what an event records (its full payload is shown beside it)."""
    if p is None:
        return f"{type.replace('_', ' ').capitalize()} (payload erased)"

    def person(key: str) -> str:
        return people.get(p.get(key), p.get(key) or "?")

    match type:
        case EventType.intake | EventType.report_attached:
            opened = "Case opened" if type == EventType.intake else "Report attached"
            return f"{opened}: {p.get('source', '?')} about {p.get('policy_clause', '?')}"
        case EventType.transition:
            moved = (_state_label(workflow, p.get(k)) for k in ("from", "to"))
            return f"{' → '.join(moved)} ({p.get('transition', '?')})"
        case EventType.claimed:
            return f"Claimed by {person('assignee')}"
        case EventType.reassigned:
            return f"Reassigned to {person('assignee')}"
        case EventType.released:
            return f"Released (was claimed by {person('assignee')})"
        case EventType.note:
            return f"Note: {p.get('text', '')}"
        case EventType.approval_requested:
            return f"Second approval requested for {p.get('transition', '?')}"
        case EventType.decision:
            return f"Decision: {p.get('restriction')} under {p.get('policy_clause')}"
        case EventType.enforcement_sent:
            return f"Enforcement webhook, attempt {p.get('attempt')}: {p.get('result')}"
        case EventType.notification_sent:
            outcome = "sent" if p.get("sent") else p.get("reason")
            return f"Notification to the {p.get('recipient_role', '?')}: {outcome}"
        case EventType.evidence_added | EventType.evidence_viewed:
            verb = "added" if type == EventType.evidence_added else "viewed"
            return f"Evidence {verb}: {p.get('filename') or p.get('sha256', '?')}"
        case EventType.erased:
            return f"Personal data erased: {p.get('reason', '?')}"
        case EventType.ncmec_report_drafted:
            return "CyberTipline report drafted"
        case EventType.ncmec_report_submitted:
            return f"CyberTipline report opened: NCMEC id {p.get('ncmec_report_id', '?')}"
        case EventType.ncmec_file_uploaded:
            return f"File uploaded to NCMEC: {str(p.get('sha256', '?'))[:16]}…"
        case EventType.ncmec_request_failed:
            return f"NCMEC /{p.get('step', '?')} failed: {p.get('message', '?')}"
        case EventType.ncmec_report_finished:
            return f"CyberTipline report finished: NCMEC id {p.get('ncmec_report_id', '?')}"
        case EventType.ncmec_report_retracted:
            return f"CyberTipline report retracted: {p.get('reason', '')}"
        case EventType.hash_matched:
            return "A file matched known child sexual abuse material; routed to child safety"
        case EventType.hold_placed:
            until = str(p.get("until", "?"))[:10]
            return f"Hold placed ({str(p.get('kind', '?')).replace('_', ' ')}) until {until}"
        case EventType.hold_extended:
            return f"Hold extended until {str(p.get('until', '?'))[:10]}"
        case EventType.appeal_filed:
            who = "the affected user" if p.get("appellant") == "affected_user" else "a reporter"
            return f"Appeal filed by {who} ({p.get('channel', '?')})"
        case EventType.appeal_decided:
            return f"Appeal decided: {str(p.get('outcome', '?')).replace('_', ' ')}"
        case EventType.link_issued | EventType.link_used | EventType.link_revoked:
            holder = str(p.get("holder", "?")).replace("_", " ")
            what = {
                EventType.link_issued: "issued",
                EventType.link_used: f"used ({p.get('action', '?')})",
                EventType.link_revoked: f"revoked: {p.get('reason', '')}",
            }[type]
            return f"Private link {p.get('link_id', '?')} of the {holder} {what}"
        case EventType.exported:
            return f"Evidence bundle exported: {p.get('bundle', '?')}"
        case EventType.verified:
            return f"Trail verified: {p.get('result', '?')}"
        case EventType.subject_updated:
            display = p.get("display") or {}
            return f"Subject's name changed from {display.get('from')!r} to {display.get('to')!r}"
        case EventType.dsa_statement_submitted:
            return f"Statement of reasons sent to the DSA database: {p.get('outcome', '?')}"
        case EventType.inquiry_recorded:
            return f"Provider inquiry {p.get('provider_reference', '?')} recorded"
        case EventType.dossier_generated:
            return f"Dossier generated ({str(p.get('format', '?')).upper()})"
    return type.replace("_", " ").capitalize()


def _trail(session: Session, case: Case) -> list[tuple[CaseEvent, EventPayload | None]]:
    return list(
        session.exec(
            select(CaseEvent, EventPayload)
            .join(EventPayload, col(EventPayload.event_id) == CaseEvent.id, isouter=True)
            .where(CaseEvent.case_id == case.id)
            .order_by(col(CaseEvent.seq))
        )
    )


def verify_case(case: Case, trail: list[tuple[CaseEvent, EventPayload | None]]) -> Verification:
    """The case's hash chain checked as `trail verify` checks it, from the stored bytes."""
    try:
        summary = verify_chain(case.reference, [to_record(e, p) for e, p in trail])
    except TrailError as exc:
        return Verification(False, f"verification failed: {exc}")
    erased = f"; {summary.erased} payloads erased" if summary.erased else ""
    return Verification(True, f"chain verified, {summary.count} events{erased}")


def _people(session: Session, labels: set[str]) -> dict[str, str]:
    """Staff actor labels (`user:<id>`) to email addresses."""
    ids = {int(label[5:]) for label in labels if label.startswith("user:") and label[5:].isdigit()}
    if not ids:
        return {}
    users = session.exec(select(User).where(col(User.id).in_(ids)))
    return {f"user:{u.id}": u.email for u in users}


def case_page(session: Session, *, case: Case, viewer: User, now: datetime) -> CasePage:
    """Everything the case page shows to `viewer` (who may see the case: see cases.access)."""
    workflow = case_workflow(session, case)
    trail = _trail(session, case)
    payloads = [json.loads(stored.payload) if stored else None for _, stored in trail]
    pending = session.exec(select(PendingApproval).where(PendingApproval.case_id == case.id)).all()
    labels = {event.actor for event, _ in trail} | {f"user:{p.requested_by_id}" for p in pending}
    labels |= {str(p["assignee"]) for p in payloads if p and "assignee" in p}
    labels.add(f"user:{case.assignee_id}")
    people = _people(session, labels)
    timeline = [
        TimelineEntry(
            seq=event.seq,
            type=event.type,
            actor=event.actor,
            at=event.at,
            summary=summarize(event.type, payload, workflow=workflow, people=people),
            payload=payload,
        )
        for (event, _), payload in zip(trail, payloads, strict=True)
    ]
    try:
        clause = definitions().policy.clause(case.policy_clause or "")
    except KeyError:
        clause = None
    work = Permission.work_restricted if case.restricted else Permission.work_cases
    return CasePage(
        case=case,
        subject=session.get(Subject, case.subject_id),
        workflow=workflow,
        state=get_state(workflow, case.state),
        clause=clause,
        sla=sla_status(case, now=now),
        assignee=session.get(User, case.assignee_id) if case.assignee_id else None,
        claim_live=claim_is_live(case, now),
        may_work=has_permission(viewer.role, work),
        history=_history(session, case=case, viewer=viewer),
        reports=_reports(session, case),
        priority=explain_priority(session, case=case, now=now),
        evidence=list_evidence(session, case=case, viewer=viewer),
        decisions=list(
            session.exec(
                select(Decision).where(Decision.case_id == case.id).order_by(col(Decision.id))
            )
        ),
        appeals=list(
            session.exec(select(Appeal).where(Appeal.case_id == case.id).order_by(col(Appeal.id)))
        ),
        notice_messages=case_messages(session, case=case),
        links=link_rows(session, case=case, viewer=viewer, now=now),
        holds=case_holds(session, case=case, viewer=viewer, now=now),
        ncmec=report_panel(session, case=case, viewer=viewer, now=now),
        timeline=timeline,
        notes=[e for e in timeline if e.type == EventType.note],
        verification=verify_case(case, trail),
        diagram=Markup(to_svg(workflow, current=case.state)),
        pending=[(p, people.get(f"user:{p.requested_by_id}", "?")) for p in pending],
        people=people,
    )
