"""SLA clocks: due times per state and priority, paused while a case waits on the end user.

Pure functions over a case and its workflow; the sweep that records breaches lives in
`cases.lifecycle.transitions` because a breach is a transition where the workflow says so.
"""

from datetime import datetime, timedelta

from cases.models import Case
from workflows import Workflow, get_state, sla_hours


def enter_state(case: Case, workflow: Workflow, *, previous: str | None, now: datetime) -> None:
    """Set the SLA clock for the state `case` has just entered (from `previous`)."""
    state = get_state(workflow, case.state)
    was_waiting = previous is not None and get_state(workflow, previous).waits_on_user
    case.sla_breached = False
    if state.waits_on_user:
        # Pause: keep what was left so the clock resumes where it stopped.
        if case.sla_due_at is not None:
            remaining = max(0, int((case.sla_due_at - now).total_seconds()))
            case.sla_remaining_seconds = remaining
        case.sla_due_at = None
        case.sla_paused_at = now
        return
    hours = sla_hours(workflow, case.state, case.priority_band)
    if hours is None:
        case.sla_due_at = None
    elif was_waiting and case.sla_remaining_seconds is not None:
        case.sla_due_at = now + timedelta(seconds=case.sla_remaining_seconds)
    else:
        case.sla_due_at = now + timedelta(hours=hours)
    case.sla_paused_at = None
    case.sla_remaining_seconds = None


# A running clock this close to its due time is "due soon" (queues filter on it in SQL too).
DUE_SOON = timedelta(hours=4)


def sla_status(case: Case, *, now: datetime) -> str:
    """`paused`, `none`, `breached`, `due_soon` (within DUE_SOON of the due time) or `on_track`."""
    if case.sla_paused_at is not None:
        return "paused"
    if case.sla_due_at is None:
        return "none"
    if case.sla_breached or case.sla_due_at <= now:
        return "breached"
    return "due_soon" if case.sla_due_at - now <= DUE_SOON else "on_track"
