"""Bulk actions on a queue selection: one transition tried on each selected case, each case checked
by the engine and changed on its own (in its own savepoint), so a refusal for one case never undoes
another's change, and every case gets its own result.

Only transitions whose inputs can be the same for every case are offered: those needing at most a
note and a policy clause. A decision needs a statement of reasons about its own case (DSA Art. 17),
so decisions are made one case at a time on the case page; a dismissal (no action, the note its
facts) is the exception, fired through the decision service like any other decision.
"""

from dataclasses import dataclass

from sqlmodel import Session, col

from cases.accounts.access import Viewer, visible_cases
from cases.decisions.service import DecisionInvalid, fire_transition
from cases.lifecycle.actors import Actor
from cases.lifecycle.transitions import allowed_transitions, case_workflow
from cases.models import Case
from workflows import DecisionKind, RequiredField, Transition, TransitionRefused, get_state

BULK_FIELDS = frozenset({RequiredField.note, RequiredField.policy_clause})
MAX_SELECTION = 100


def bulk_capable(transition: Transition) -> bool:
    return (
        not transition.second_approval
        # A dismissal is a decision whose only input is the note: bulk dismissing spam is common.
        and transition.decides in (None, DecisionKind.dismissal)
        and set(transition.requires) <= BULK_FIELDS
    )


@dataclass(frozen=True)
class BulkOption:
    """A transition offered for the selection, and for how many of its cases the engine allows it
    to this actor now."""

    name: str
    label: str
    requires: tuple[RequiredField, ...]
    allowed: int


@dataclass(frozen=True)
class BulkResult:
    reference: str
    ok: bool
    message: str


def selected_cases(session: Session, *, references: list[str], viewer: Viewer) -> list[Case]:
    """The selected cases the viewer may see, in the order given (others are silently absent)."""
    wanted = list(dict.fromkeys(references))[:MAX_SELECTION]
    found = {
        case.reference: case
        for case in session.exec(visible_cases(viewer).where(col(Case.reference).in_(wanted)))
    }
    return [found[reference] for reference in wanted if reference in found]


def bulk_options(session: Session, *, cases: list[Case], actor: Actor) -> list[BulkOption]:
    """Bulk-capable transitions the engine allows `actor` on at least one of `cases`, most widely
    allowed first."""
    options: dict[str, BulkOption] = {}
    for case in cases:
        for transition in allowed_transitions(session, case=case, actor=actor):
            if not bulk_capable(transition):
                continue
            seen = options.get(transition.name)
            options[transition.name] = BulkOption(
                name=transition.name,
                label=transition.label,
                requires=transition.requires,
                allowed=(seen.allowed if seen else 0) + 1,
            )
    return sorted(options.values(), key=lambda option: (-option.allowed, option.label))


def bulk_transition(
    session: Session,
    *,
    references: list[str],
    transition: str,
    actor: Actor,
    fields: dict[str, str],
) -> list[BulkResult]:
    """Fire `transition` on each case the actor may see, each on its own; one result per selected
    reference (a case the actor may not see is reported as not found)."""
    if actor.user is None:
        raise TransitionRefused("bulk actions are taken by staff")
    cases = {
        case.reference: case
        for case in selected_cases(session, references=references, viewer=actor.user)
    }
    results = []
    for reference in list(dict.fromkeys(references))[:MAX_SELECTION]:
        case = cases.get(reference)
        if case is None:
            results.append(BulkResult(reference, False, "No such case."))
            continue
        results.append(_one(session, case=case, transition=transition, actor=actor, fields=fields))
    return results


def _one(
    session: Session, *, case: Case, transition: str, actor: Actor, fields: dict[str, str]
) -> BulkResult:
    workflow = case_workflow(session, case)
    chosen = next((t for t in workflow.transitions if t.name == transition), None)
    if chosen is not None and not bulk_capable(chosen):
        return BulkResult(case.reference, False, f"{chosen.label!r} is done one case at a time.")
    needed = {field.value for field in chosen.requires} if chosen else set()
    savepoint = session.begin_nested()
    try:
        fire_transition(
            session,
            case=case,
            transition=transition,
            actor=actor,
            fields={name: value for name, value in fields.items() if name in needed},
        )
    except (TransitionRefused, DecisionInvalid) as exc:
        savepoint.rollback()
        return BulkResult(case.reference, False, str(exc))
    savepoint.commit()
    return BulkResult(case.reference, True, f"Now: {get_state(workflow, case.state).label}.")
