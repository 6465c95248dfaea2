"""The one way a case changes state: `transition_case`.

It asks the workflow engine whether this actor may fire this transition now, evaluates the
transition's guards (registered here by name, since they read the database), changes the state,
stage, stage timestamp and SLA clock, appends the `transition` event, and writes an outbox row for
each job — all in the caller's transaction, so the change and its evidence commit together or not
at all.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from cases.core.security import has_permission
from cases.core.sqltypes import utcnow
from cases.enums import EventType, Permission
from cases.jobs.outbox import enqueue_job
from cases.lifecycle import sla
from cases.lifecycle.actors import Actor
from cases.lifecycle.deployed import definitions, workflow_for
from cases.models import Case, Decision, PendingApproval
from cases.trail.models import CaseEvent
from cases.trail.store import append_event
from workflows import (
    KNOWN_GUARDS,
    MIN_APPEAL_WINDOW_DAYS,
    Transition,
    TransitionRefused,
    Workflow,
    available_transitions,
    check_transition,
    get_state,
)

# The shortest window any workflow may give (DSA Art. 20: six months): the sweep's lower bound.
SHORTEST_APPEAL_WINDOW = timedelta(days=MIN_APPEAL_WINDOW_DAYS)


class GuardRefused(TransitionRefused):
    """A guard said no; the message says why."""


class DecisionRequired(TransitionRefused):
    """A deciding transition fired other than through the decision service, which would leave
    the decision without its `Decision` row."""


class AppealRequired(TransitionRefused):
    """A transition that files an appeal fired other than through the appeals service, which
    would leave the case in its appeal stage without an `Appeal`, an appellant or grounds."""


class AwaitingApproval(Exception):
    """The request was recorded (commit it) and a second person must approve before the case
    moves: not a refusal, so callers commit and tell the actor."""


@dataclass(frozen=True)
class GuardContext:
    session: Session
    case: Case
    actor: Actor
    transition: Transition
    fields: Mapping[str, Any]
    now: datetime


Guard = Callable[[GuardContext], str | None]
GUARDS: dict[str, Guard] = {}
# For guards that time makes true, a SQL condition narrowing the cases the sweep must look at.
SWEEP_CANDIDATES: dict[str, Callable[[datetime], Any]] = {}


def guard(
    name: str, *, sweep_candidates: Callable[[datetime], Any] | None = None
) -> Callable[[Guard], Guard]:
    """Register a guard: it returns None to allow, or the reason it refuses."""
    if name not in KNOWN_GUARDS:
        raise ValueError(f"guard {name!r} is not in workflows.KNOWN_GUARDS")

    def register(function: Guard) -> Guard:
        GUARDS[name] = function
        if sweep_candidates is not None:
            SWEEP_CANDIDATES[name] = sweep_candidates
        return function

    return register


def latest_decision(session: Session, case_id: int) -> Decision | None:
    return session.exec(
        select(Decision).where(Decision.case_id == case_id).order_by(col(Decision.id).desc())
    ).first()


def appeal_window(session: Session, *, case: Case) -> timedelta:
    return timedelta(days=case_workflow(session, case).appeal_window_days)


def appeal_window_closes_at(
    session: Session, *, case: Case, decision: Decision | None = None
) -> datetime | None:
    """When the appeal window of `decision` (default: the case's latest) closes: the workflow's
    `appeal_window_days` after the person was informed of it (until then, after it was made).
    None when nothing was decided."""
    decision = decision or latest_decision(session, case.id)
    if decision is None:
        return None
    return (decision.informed_at or decision.decided_at) + appeal_window(session, case=case)


@guard("claimed_by_actor")
def _claimed_by_actor(ctx: GuardContext) -> str | None:
    if ctx.actor.user is None or ctx.case.assignee_id == ctx.actor.user_id:
        return None
    return "claim the case first: only its assignee may do this"


@guard("not_decision_author")
def _not_decision_author(ctx: GuardContext) -> str | None:
    decision = latest_decision(ctx.session, ctx.case.id)
    if decision is not None and decision.author_id == ctx.actor.user_id:
        return "the author of a decision may not review its appeal"
    return None


@guard(
    "appeal_window_closed",
    sweep_candidates=lambda now: col(Case.updated_at) <= now - SHORTEST_APPEAL_WINDOW,
)
def _appeal_window_closed(ctx: GuardContext) -> str | None:
    closes = appeal_window_closes_at(ctx.session, case=ctx.case)
    if closes is None or ctx.now >= closes:
        return None
    return f"the appeal window is open until {closes:%Y-%m-%d %H:%M} UTC"


@guard(
    "sla_breached",
    sweep_candidates=lambda now: col(Case.sla_breached).is_(True) | (col(Case.sla_due_at) <= now),
)
def _sla_breached(ctx: GuardContext) -> str | None:
    if ctx.case.sla_breached or (ctx.case.sla_due_at and ctx.case.sla_due_at <= ctx.now):
        return None
    return "the SLA has not been breached"


def _has_event(session: Session, case_id: int, type: EventType) -> bool:
    return (
        session.exec(
            select(CaseEvent.id).where(CaseEvent.case_id == case_id, CaseEvent.type == type)
        ).first()
        is not None
    )


@guard("ncmec_report_finished")
def _ncmec_report_finished(ctx: GuardContext) -> str | None:
    if _has_event(ctx.session, ctx.case.id, EventType.ncmec_report_finished):
        return None
    return "no finished CyberTipline report is on record for this case"


NO_REPORT_APPROVED = "no_report_approved"


@guard(NO_REPORT_APPROVED)
def _no_report_approved(ctx: GuardContext) -> str | None:
    pending = _pending_approval(ctx.session, ctx.case.id, ctx.transition.name)
    if pending is not None and pending.requested_by_id != ctx.actor.user_id:
        return None
    return "a decision not to report needs the approval of a second specialist"


def _pending_approval(session: Session, case_id: int, transition: str) -> PendingApproval | None:
    return session.exec(
        select(PendingApproval).where(
            PendingApproval.case_id == case_id, PendingApproval.transition == transition
        )
    ).first()


def case_workflow(session: Session, case: Case) -> Workflow:
    """The definition this case runs on (the version it started with)."""
    return workflow_for(session, name=case.workflow_name, digest=case.workflow_digest)


def _check_access(case: Case, actor: Actor) -> None:
    if actor.user is None:
        return
    needed = Permission.work_restricted if case.restricted else Permission.work_cases
    if not has_permission(actor.user.role, needed):
        raise TransitionRefused(f"the {actor.user.role} role may not work this case")


def allowed_transitions(session: Session, *, case: Case, actor: Actor) -> list[Transition]:
    """Exactly the transitions `actor` may fire now (roles and guards), for the UI and API."""
    try:
        _check_access(case, actor)
    except TransitionRefused:
        return []
    workflow = case_workflow(session, case)
    now = utcnow()
    allowed = []
    for candidate in available_transitions(workflow, case.state, actor.roles):
        ctx = GuardContext(session, case, actor, candidate, {}, now)
        # Second-approval guards pass once approved; until then the request itself is allowed.
        guards = [
            g
            for g in candidate.guards
            if not (candidate.second_approval and g == NO_REPORT_APPROVED)
        ]
        if all(GUARDS[g](ctx) is None for g in guards):
            allowed.append(candidate)
    return allowed


def transition_case(
    session: Session,
    *,
    case: Case,
    transition: str,
    actor: Actor,
    fields: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    deciding: bool = False,
    filing_appeal: bool = False,
) -> CaseEvent:
    """Fire `transition` on `case` for `actor`, or raise TransitionRefused and change nothing.
    A transition that `decides` is fired only by the decision service (`deciding=True`), one that
    `files_appeal` only by the appeals service (`filing_appeal=True`)."""
    fields = dict(fields or {})
    now = now or utcnow()
    _check_access(case, actor)
    workflow = case_workflow(session, case)
    pending = _pending_approval(session, case.id, transition)
    if pending is not None and pending.requested_by_id != actor.user_id:
        fields = {**pending.fields, **fields}  # the approver confirms what was requested
    chosen = check_transition(
        workflow, state=case.state, transition=transition, actor_roles=actor.roles, fields=fields
    )
    if chosen.decides is not None and not deciding:
        raise DecisionRequired(
            f"{chosen.label!r} records a decision: make it through the decision service."
        )
    if chosen.files_appeal and not filing_appeal:
        raise AppealRequired(
            f"{chosen.label!r} files an appeal: file it through the appeals service, with the "
            "appellant and the grounds."
        )
    if chosen.second_approval:
        _require_second_person(
            session, case=case, transition=chosen, actor=actor, fields=fields, pending=pending
        )
    ctx = GuardContext(session, case, actor, chosen, fields, now)
    for name in chosen.guards:
        reason = GUARDS[name](ctx)
        if reason is not None:
            raise GuardRefused(f"{chosen.label!r} refused: {reason}.")
    if chosen.second_approval:
        session.delete(pending)
        fields = {**fields, "requested_by": f"user:{pending.requested_by_id}"}
    return _apply(
        session,
        case=case,
        workflow=workflow,
        transition=chosen,
        actor=actor,
        fields=fields,
        now=now,
    )


def _require_second_person(
    session: Session,
    *,
    case: Case,
    transition: Transition,
    actor: Actor,
    fields: dict,
    pending: PendingApproval | None,
) -> None:
    """Record a first request (raising AwaitingApproval), or refuse the requester approving
    their own request; a different person's call passes on to the guards."""
    if pending is None:
        session.add(
            PendingApproval(
                case_id=case.id,
                transition=transition.name,
                requested_by_id=actor.user_id,
                fields=fields,
            )
        )
        append_event(
            session,
            case=case,
            type=EventType.approval_requested,
            actor=actor.label,
            payload={"transition": transition.name, "fields": _jsonable(fields)},
        )
        raise AwaitingApproval(
            f"{transition.label!r} is recorded and needs the approval of a second person."
        )
    if pending.requested_by_id == actor.user_id:
        raise GuardRefused(
            f"{transition.label!r} needs a second person: you requested it, someone else approves."
        )


def _apply(
    session: Session,
    *,
    case: Case,
    workflow: Workflow,
    transition: Transition,
    actor: Actor,
    fields: Mapping[str, Any],
    now: datetime,
) -> CaseEvent:
    previous = case.state
    target = get_state(workflow, transition.to)
    case.state = target.name
    case.stage = target.stage
    case.queue = target.queue
    case.updated_at = now
    setattr(case, f"{target.stage}_at", now)
    if target.terminal or target.stage == "resolved":
        case.assignee_id = None
        case.claim_expires_at = None
    sla.enter_state(case, workflow, previous=previous, now=now)
    session.add(case)
    event = append_event(
        session,
        case=case,
        type=EventType.transition,
        actor=actor.label,
        payload={
            "transition": transition.name,
            "from": previous,
            "to": target.name,
            "fields": _jsonable(fields),
            "workflow": {"name": workflow.name, "version": workflow.version},
        },
    )
    for job in transition.jobs:
        enqueue_job(
            session,
            job=job,
            args={"case_id": case.id, "event_id": event.id, "transition": transition.name},
            case_id=case.id,
        )
    return event


def _jsonable(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Field values as the trail stores them: strings, integers, booleans, lists of those."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, float):
            raise TransitionRefused(f"field {key!r}: use a whole number, not {value!r}")
        out[key] = list(value) if isinstance(value, tuple | set | frozenset) else value
    return out


def sweep(session: Session, *, now: datetime | None = None) -> int:
    """Record SLA breaches (and escalate where the workflow says), and fire system transitions
    whose time has come (e.g. closing after the appeal window). Returns how many cases changed."""
    now = now or utcnow()
    system = Actor.system("sla_sweep")
    changed = 0
    overdue = session.exec(
        select(Case).where(
            Case.sla_due_at.is_not(None),
            Case.sla_due_at <= now,
            Case.sla_breached.is_(False),
            Case.sla_paused_at.is_(None),
        )
    ).all()
    for case in overdue:
        case.sla_breached = True
        session.add(case)
        append_event(
            session,
            case=case,
            type=EventType.sla_breached,
            actor=system.label,
            payload={"state": case.state, "due_at": case.sla_due_at.isoformat()},
        )
        changed += 1
    for case, transition in _due_system_transitions(session, now=now):
        try:
            transition_case(session, case=case, transition=transition, actor=system, now=now)
        except TransitionRefused:
            continue
        changed += 1
    return changed


def _due_system_transitions(session: Session, *, now: datetime) -> list[tuple[Case, str]]:
    """(case, transition) pairs of guard-only system transitions whose guards pass now. Only
    cases in a state with such a transition, and past the guard's time condition, are read."""
    system = Actor.system("sla_sweep")
    due = []
    for workflow in definitions().workflows.values():
        for candidate in workflow.transitions:
            timed = [g for g in candidate.guards if g in SWEEP_CANDIDATES]
            if not candidate.system_only or candidate.requires or not timed:
                continue
            query = select(Case).where(
                Case.workflow_name == workflow.name,
                col(Case.state).in_(candidate.sources),
                *(SWEEP_CANDIDATES[g](now) for g in timed),
            )
            for case in session.exec(query):
                ctx = GuardContext(session, case, system, candidate, {}, now)
                if all(GUARDS[g](ctx) is None for g in candidate.guards):
                    due.append((case, candidate.name))
    return due
