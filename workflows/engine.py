"""The workflow engine's one question, for every caller alike: may this actor fire this transition
from this state now? Guards and jobs are names here; the service layer runs them from its
registries, because they need the database and the outbox. Pure Python: no Flask, no database."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from workflows.model import (
    MissingFields,
    PriorityBand,
    RoleNotAllowed,
    State,
    Transition,
    TransitionNotAvailable,
    UnknownState,
    UnknownTransition,
    Workflow,
)


def get_state(workflow: Workflow, name: str) -> State:
    try:
        return workflow.states[name]
    except KeyError:
        raise UnknownState(
            f"State {name!r} is not defined in workflow {workflow.name!r} "
            f"(version {workflow.version})."
        ) from None


def get_transition(workflow: Workflow, name: str) -> Transition:
    found = next((t for t in workflow.transitions if t.name == name), None)
    if found is None:
        raise UnknownTransition(
            f"Workflow {workflow.name!r} (version {workflow.version}) has no transition {name!r}."
        )
    return found


def available_transitions(
    workflow: Workflow, state: str, actor_roles: Collection[str]
) -> list[Transition]:
    """The transitions this actor may fire from ``state``, in definition order. Guards are not
    evaluated here: the service filters further with its guard registry."""
    get_state(workflow, state)
    return [t for t in workflow.transitions if state in t.sources and t.allows(actor_roles)]


def _blank(value: object) -> bool:
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Collection):
        return not value
    return value is None


def check_transition(
    workflow: Workflow,
    *,
    state: str,
    transition: str,
    actor_roles: Collection[str],
    fields: Mapping[str, object],
) -> Transition:
    """Return the transition if the actor may fire it from ``state`` with these ``fields``;
    otherwise raise a ``TransitionRefused`` subclass saying why. Nothing is changed either way."""
    current = get_state(workflow, state)
    found = get_transition(workflow, transition)
    if state not in found.sources:
        raise TransitionNotAvailable(
            f"{found.label!r} is not available while the case is {current.label!r}."
        )
    if not found.allows(actor_roles):
        who = "the system" if found.system_only else ", ".join(sorted(found.roles))
        raise RoleNotAllowed(f"{found.label!r} may be done only by: {who}.")
    missing = [f.value for f in found.requires if _blank(fields.get(f))]
    if missing:
        raise MissingFields(found, missing)
    return found


def sla_hours(workflow: Workflow, state: str, priority: PriorityBand | str) -> int | None:
    """Hours allowed in ``state`` at ``priority``; ``None`` where no SLA applies."""
    return get_state(workflow, state).sla.get(PriorityBand(priority))
