"""Rules about a whole workflow graph: reachability, dead ends, SLAs where staff have work, roles
that may see the workflow's cases, who files and hears appeals, and the child-safety rules."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence

from workflows.model import (
    DOSSIER_GENERATED,
    NCMEC_REPORT_FINISHED,
    NO_REPORT_APPROVED,
    PLACE_PRESERVATION_HOLD,
    RESTRICTED_VIEWERS,
    AppealOutcome,
    DecisionKind,
    PriorityBand,
    Role,
    Stage,
    State,
    Transition,
    Workflow,
    WorkflowKind,
)


def _reach(
    initial: str, transitions: Iterable[Transition], *, through: Callable[[Transition], bool]
) -> dict[str, str | None]:
    """Breadth-first from ``initial`` over the transitions ``through`` accepts: each reachable
    state mapped to the state it was first reached from (for printing a path)."""
    came_from: dict[str, str | None] = {initial: None}
    usable = [t for t in transitions if through(t)]
    queue = deque([initial])
    while queue:
        state = queue.popleft()
        for t in usable:
            if state in t.sources and t.to not in came_from:
                came_from[t.to] = state
                queue.append(t.to)
    return came_from


def _path(came_from: Mapping[str, str | None], state: str) -> str:
    steps = [state]
    while (previous := came_from[steps[-1]]) is not None:
        steps.append(previous)
    return " → ".join(reversed(steps))


def check_graph(workflow: Workflow, *, where: str) -> list[str]:
    """Rules about the whole graph; run only when every state and transition reference resolved
    (otherwise one typo would also be reported as unreachable states and dead ends)."""
    problems: list[str] = []
    states, transitions = workflow.states, workflow.transitions
    outgoing = {name: [t for t in transitions if name in t.sources] for name in states}
    reachable = _reach(workflow.initial, transitions, through=lambda t: True)
    for name, state in states.items():
        here = f"{where}: state {name!r}"
        if name not in reachable:
            problems.append(f"{here} is unreachable from initial state {workflow.initial!r}")
        if state.terminal:
            problems.extend(
                f"{here} is terminal but has outgoing transition {t.name!r}" for t in outgoing[name]
            )
        elif not outgoing[name]:
            problems.append(f"{here} is not terminal but has no outgoing transition (dead end)")
        problems.extend(_check_sla(state, outgoing[name], here=here))
    for t in transitions:
        problems.extend(_check_roles(workflow, t, where=f"{where}: transition {t.name!r}"))
        problems.extend(_check_appeal(workflow, t, where=f"{where}: transition {t.name!r}"))
    if workflow.kind is WorkflowKind.child_safety:
        problems.extend(_check_child_safety(workflow, where=where))
    if workflow.kind is WorkflowKind.inquiry:
        problems.extend(_check_inquiry(workflow, where=where))
    return problems


def _check_sla(state: State, outgoing: Sequence[Transition], *, here: str) -> list[str]:
    # An SLA is a promise about staff work, so it belongs exactly on the states where staff
    # have work to do; anywhere else it would breach for reasons nobody could act on.
    if state.terminal:
        why = "is terminal"
    elif state.waits_on_user:
        why = "waits on the user (its SLA clock is paused)"
    elif all(t.system_only for t in outgoing):
        why = "has only system transitions, which staff cannot hurry"
    else:
        missing = [p.value for p in PriorityBand if p not in state.sla]
        if missing:
            return [f"{here} is a working state without sla hours for {', '.join(missing)}"]
        return []
    return [f"{here} {why}, so it must not have an sla"] if state.sla else []


def _check_roles(workflow: Workflow, t: Transition, *, where: str) -> list[str]:
    problems = []
    if Role.auditor in t.roles:
        problems.append(f"{where}: role 'auditor' may not fire transitions (auditors only read)")
    if workflow.restricted:
        problems.extend(
            f"{where}: role {role.value!r} cannot see restricted cases"
            for role in sorted(t.roles - RESTRICTED_VIEWERS)
        )
    return problems


# The decision kind an appeal outcome must record, where it records one.
OUTCOME_DECIDES = {
    AppealOutcome.partially_reversed: DecisionKind.partial_reversal,
    AppealOutcome.reversed: DecisionKind.reversal,
}


def _check_appeal(workflow: Workflow, t: Transition, *, where: str) -> list[str]:
    """Appeals are filed only through the appeals service, and heard only by a person who did
    not take the decision under appeal (DSA Art. 20(6))."""
    problems = []
    in_appeal = {n for n, s in workflow.states.items() if s.stage is Stage.appeal}
    enters = t.to in in_appeal and not set(t.sources) <= in_appeal
    if enters != t.files_appeal:
        problems.append(
            f"{where}: a transition into the appeal stage from outside it must set "
            "files_appeal = true, and only such a transition may"
        )
    if t.files_appeal and not t.system_only:
        problems.append(f"{where}: files_appeal transitions are the system's (roles = [])")
    hears = bool(set(t.sources) & in_appeal) and not t.system_only
    if hears and "not_decision_author" not in t.guards:
        problems.append(
            f"{where}: a transition out of the appeal stage must be guarded by "
            "'not_decision_author'"
        )
    if t.ends_appeal is not None:
        if not set(t.sources) <= in_appeal or t.system_only:
            problems.append(f"{where}: ends_appeal fires from appeal states, by a person")
        if t.decides != OUTCOME_DECIDES.get(t.ends_appeal):
            wanted = OUTCOME_DECIDES.get(t.ends_appeal)
            problems.append(
                f"{where}: ends_appeal {t.ends_appeal.value!r} must "
                + (f"decide {wanted.value!r}" if wanted else "not decide")
            )
    return problems


def _check_child_safety(workflow: Workflow, *, where: str) -> list[str]:
    problems = []
    if not workflow.restricted:
        problems.append(f"{where}: a child_safety workflow must be restricted")
    for t in workflow.transitions:
        if NO_REPORT_APPROVED in t.guards and not t.second_approval:
            problems.append(
                f"{where}: transition {t.name!r} is guarded by {NO_REPORT_APPROVED!r} "
                "but does not require second_approval"
            )
        if NCMEC_REPORT_FINISHED in t.guards and PLACE_PRESERVATION_HOLD not in t.jobs:
            problems.append(
                f"{where}: transition {t.name!r} is guarded by {NCMEC_REPORT_FINISHED!r} "
                f"but does not run job {PLACE_PRESERVATION_HOLD!r}"
            )
    # Every way to a resolved state must pass a finished report or an approved no-report.
    ungated = _reach(
        workflow.initial,
        workflow.transitions,
        through=lambda t: not {NCMEC_REPORT_FINISHED, NO_REPORT_APPROVED} & set(t.guards),
    )
    problems.extend(
        f"{where}: state {name!r} (stage resolved) is reachable without a finished NCMEC report "
        f"or a second-approved no-report decision: {_path(ungated, name)}"
        for name in ungated
        if workflow.states[name].stage is Stage.resolved
    )
    return problems


def _check_inquiry(workflow: Workflow, *, where: str) -> list[str]:
    """An inquiry is the operator's own business with the provider: leads must see it, nobody
    decides or appeals anything in it, and it is answered only with a dossier in hand."""
    problems = []
    if workflow.restricted:
        problems.append(f"{where}: an inquiry workflow must not be restricted")
    problems.extend(
        f"{where}: state {name!r}: an inquiry workflow has no appeal stage"
        for name, state in workflow.states.items()
        if state.stage is Stage.appeal
    )
    problems.extend(
        f"{where}: transition {t.name!r}: an inquiry workflow records no decision"
        for t in workflow.transitions
        if t.decides is not None
    )
    ungated = _reach(
        workflow.initial, workflow.transitions, through=lambda t: DOSSIER_GENERATED not in t.guards
    )
    problems.extend(
        f"{where}: state {name!r} (stage resolved) is reachable without a generated dossier: "
        f"{_path(ungated, name)}"
        for name in ungated
        if workflow.states[name].stage is Stage.resolved
    )
    return problems
