"""The workflow engine: parse and validate workflow definitions, and answer one question for
every caller alike — may this actor fire this transition from this state now?

A workflow is data (a TOML file; the format is documented in ``workflows/README.md``). The engine
only handles names: guards and jobs are looked up and run by the service layer through its
registries, because they need the database and the outbox. Pure Python — no Flask, no database.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar

from cases.enums import Role, Stage

SHIPPED_DIR: Final = Path(__file__).parent / "definitions"
# The policy taxonomy lives beside the shipped workflows but is not one.
POLICY_FILENAME: Final = "policy.toml"

SYSTEM: Final = "system"
"""The actor role the service passes when the system itself acts (a job, the public portal on an
end user's behalf). Never a staff role: transitions with ``roles = []`` are the system's alone."""

NCMEC_REPORT_FINISHED: Final = "ncmec_report_finished"
NO_REPORT_APPROVED: Final = "no_report_approved"
PLACE_PRESERVATION_HOLD: Final = "place_preservation_hold"

KNOWN_GUARDS: Final = frozenset(
    {
        NCMEC_REPORT_FINISHED,
        NO_REPORT_APPROVED,
        "appeal_window_closed",
        "not_decision_author",
        "claimed_by_actor",
        "sla_breached",
    }
)
KNOWN_JOBS: Final = frozenset(
    {
        "notify_affected_user",
        "notify_reporter",
        "send_enforcement_webhook",
        "submit_ncmec_report",
        PLACE_PRESERVATION_HOLD,
        "sign_checkpoint",
    }
)

RESTRICTED_VIEWERS: Final = frozenset({Role.child_safety, Role.admin, Role.auditor})
"""Roles that may see a restricted (child-safety) case at all."""

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_E = TypeVar("_E", bound=StrEnum)


class WorkflowKind(StrEnum):
    """What rules a workflow must satisfy beyond the common ones."""

    standard = "standard"
    child_safety = "child_safety"


class Priority(StrEnum):
    """A case's priority band; SLA targets are given per band (p1 is the most urgent)."""

    p1 = "p1"
    p2 = "p2"
    p3 = "p3"
    p4 = "p4"


class RequiredField(StrEnum):
    """The closed set of inputs a transition may demand from the actor."""

    policy_clause = "policy_clause"
    statement_of_reasons = "statement_of_reasons"
    restriction = "restriction"
    duration_days = "duration_days"
    territorial_scope = "territorial_scope"
    note = "note"
    appeal_outcome = "appeal_outcome"
    ncmec_report_id = "ncmec_report_id"
    no_report_reason = "no_report_reason"


@dataclass(frozen=True)
class State:
    """A place a case can be in; ``sla`` is empty where no SLA applies."""

    name: str
    label: str
    stage: Stage
    queue: str | None
    sla: Mapping[Priority, int]
    terminal: bool
    waits_on_user: bool


@dataclass(frozen=True)
class Transition:
    """A named move between states, and who may make it with what."""

    name: str
    label: str
    sources: tuple[str, ...]
    """The states it can fire from (the file's ``from``, with ``"*"`` expanded)."""
    to: str
    roles: frozenset[Role]
    """Empty: only the system may fire it (see ``SYSTEM``)."""
    requires: tuple[RequiredField, ...]
    guards: tuple[str, ...]
    jobs: tuple[str, ...]
    second_approval: bool

    @property
    def system_only(self) -> bool:
        return not self.roles

    def allows(self, actor_roles: Collection[str]) -> bool:
        if self.system_only:
            return SYSTEM in actor_roles
        return not self.roles.isdisjoint(actor_roles)


@dataclass(frozen=True)
class Workflow:
    """One validated definition, exactly as loaded (a case records name, version and digest)."""

    name: str
    version: int
    label: str
    kind: WorkflowKind
    restricted: bool
    initial: str
    states: Mapping[str, State]
    transitions: tuple[Transition, ...]
    digest: str
    """Hex SHA-256 of the source bytes; cases record it with the name and version."""
    source: str


class DefinitionError(ValueError):
    """A definition is invalid; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(["invalid definition:", *(f"- {p}" for p in self.problems)]))


class TransitionRefused(Exception):
    """The engine refused a transition; ``str()`` is a reason fit to show the actor."""


class UnknownState(TransitionRefused, LookupError):
    pass


class UnknownTransition(TransitionRefused):
    pass


class TransitionNotAvailable(TransitionRefused):
    pass


class RoleNotAllowed(TransitionRefused):
    pass


class MissingFields(TransitionRefused):
    def __init__(self, transition: Transition, fields: Sequence[str]) -> None:
        self.fields = list(fields)
        super().__init__(f"{transition.label!r} needs: {', '.join(self.fields)}.")


# --- reading TOML tables ---------------------------------------------------------------------

_REQUIRED: Final = object()
_TOML_NAMES: Final = {
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "string",
    list: "array",
    dict: "table",
}


def _toml_type(value: object) -> str:
    return _TOML_NAMES.get(type(value), type(value).__name__)


def _is_a(value: object, kind: type) -> bool:
    # bool is a subclass of int in Python, but `version = true` is no integer in TOML.
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


class TomlTable:
    """One TOML table read against its expected keys. It records problems instead of raising,
    so that a definition's every problem is reported in one go (also used by ``policy``)."""

    def __init__(self, data: Mapping[str, Any], *, where: str, problems: list[str]) -> None:
        self._data = data
        self._where = where
        self._problems = problems
        self._seen: set[str] = set()

    def problem(self, message: str) -> None:
        self._problems.append(f"{self._where}: {message}")

    def get(self, key: str, kind: type, default: Any = _REQUIRED) -> Any:
        """The value of ``key``, or ``None`` (after recording why) when missing or mistyped."""
        self._seen.add(key)
        if key not in self._data:
            if default is _REQUIRED:
                self.problem(f"missing required key {key!r}")
                return None
            return default
        value = self._data[key]
        if not _is_a(value, kind):
            self.problem(f"{key!r} must be a TOML {_TOML_NAMES[kind]}, not {_toml_type(value)}")
            return None
        return value

    def get_name(self, key: str) -> str | None:
        value = self.get(key, str)
        if value is not None and not _NAME.match(value):
            self.problem(f"{key!r} {value!r} must be lower-case letters, digits and underscores")
        return value

    def get_strings(self, key: str, *, default: Any = _REQUIRED) -> list[str] | None:
        values = self.get(key, list, default)
        if values is None:
            return None
        if not all(isinstance(v, str) for v in values):
            self.problem(f"{key!r} must be an array of strings")
            return None
        return values

    def get_enum(self, key: str, enum: type[_E], *, what: str) -> _E | None:
        value = self.get(key, str)
        return None if value is None else self.enum_member(value, enum, what=what)

    def enum_member(self, value: str, enum: type[_E], *, what: str) -> _E | None:
        try:
            return enum(value)
        except ValueError:
            self.problem(f"unknown {what} {value!r} (expected one of: {', '.join(enum)})")
            return None

    def finish(self) -> None:
        for key in sorted(self._data.keys() - self._seen):
            self.problem(f"unknown key {key!r}")


# --- parsing and validation ------------------------------------------------------------------


def _parse_sla(table: TomlTable, raw: Mapping[str, Any] | None) -> dict[Priority, int]:
    sla: dict[Priority, int] = {}
    for key, hours in (raw or {}).items():
        priority = table.enum_member(key, Priority, what="priority in sla")
        if isinstance(hours, float):
            table.problem(f"sla {key!r} must be a whole number of hours, not a float ({hours})")
        elif not _is_a(hours, int) or hours <= 0:
            table.problem(f"sla {key!r} must be a positive whole number of hours")
        elif priority is not None:
            sla[priority] = hours
    return sla


def _parse_state(name: str, raw: object, *, where: str, problems: list[str]) -> State | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: state {name!r} must be a table")
        return None
    table = TomlTable(raw, where=f"{where}: state {name!r}", problems=problems)
    if not _NAME.match(name):
        table.problem("state names must be lower-case letters, digits and underscores")
    state = State(
        name=name,
        label=table.get("label", str),
        stage=table.get_enum("stage", Stage, what="stage"),
        queue=table.get("queue", str, None),
        sla=MappingProxyType(_parse_sla(table, table.get("sla", dict, {}))),
        terminal=table.get("terminal", bool, False),
        waits_on_user=table.get("waits_on_user", bool, False),
    )
    if state.queue is not None and not _NAME.match(state.queue):
        table.problem(f"queue {state.queue!r} must be lower-case letters, digits and underscores")
    table.finish()
    return state


def _parse_transition(
    index: int,
    raw: object,
    *,
    where: str,
    states: Mapping[str, State],
    known_guards: Collection[str],
    known_jobs: Collection[str],
    problems: list[str],
) -> Transition | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: transition #{index + 1} must be a table")
        return None
    label = raw.get("name") if isinstance(raw.get("name"), str) else f"#{index + 1}"
    table = TomlTable(raw, where=f"{where}: transition {label!r}", problems=problems)
    name = table.get_name("name")
    to = table.get("to", str)
    if to is not None and to not in states:
        table.problem(f"unknown state {to!r} in 'to'")
    sources = _parse_sources(table, states, to)
    roles = [table.enum_member(r, Role, what="role") for r in table.get_strings("roles") or ()]
    requires = [
        table.enum_member(f, RequiredField, what="required field")
        for f in table.get_strings("requires", default=[]) or ()
    ]
    guards = table.get_strings("guards", default=[]) or []
    jobs = table.get_strings("jobs", default=[]) or []
    for kind, names, known in (("guard", guards, known_guards), ("job", jobs, known_jobs)):
        for unknown in (n for n in names if n not in known):
            table.problem(f"unknown {kind} {unknown!r}")
    transition = Transition(
        name=name,
        label=table.get("label", str),
        sources=sources,
        to=to,
        roles=frozenset(r for r in roles if r is not None),
        requires=tuple(f for f in requires if f is not None),
        guards=tuple(guards),
        jobs=tuple(jobs),
        second_approval=table.get("second_approval", bool, False),
    )
    table.finish()
    return transition


def _parse_sources(
    table: TomlTable, states: Mapping[str, State], to: str | None
) -> tuple[str, ...]:
    raw = table.get("from", object)  # a string or an array: checked below
    if raw == "*":
        # A "*" self-loop is never what an author means, so the target itself is left out.
        return tuple(n for n, s in states.items() if not s.terminal and n != to)
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
        if raw is not None:
            table.problem("'from' must be a non-empty array of state names, or \"*\"")
        return ()
    unknown = [s for s in raw if s not in states]
    for name in unknown:
        table.problem(f"unknown state {name!r} in 'from'")
    return () if unknown else tuple(dict.fromkeys(raw))


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


def _check_graph(workflow: Workflow, *, where: str) -> list[str]:
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
    if workflow.kind is WorkflowKind.child_safety:
        problems.extend(_check_child_safety(workflow, where=where))
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
        missing = [p.value for p in Priority if p not in state.sla]
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


def _parse(
    text: str, *, source: str, known_guards: Collection[str], known_jobs: Collection[str]
) -> tuple[Workflow | None, list[str]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [f"{source}: TOML syntax error: {exc}"]
    problems: list[str] = []
    name = data.get("name")
    where = f"{source}: workflow {name!r}" if isinstance(name, str) else source
    top = TomlTable(data, where=where, problems=problems)
    header = {
        "name": top.get_name("name"),
        "version": top.get("version", int),
        "label": top.get("label", str),
        "kind": top.get_enum("kind", WorkflowKind, what="kind"),
        "restricted": top.get("restricted", bool),
        "initial": top.get("initial", str),
    }
    if header["version"] is not None and header["version"] < 1:
        top.problem("'version' must be 1 or more")
    raw_states = top.get("states", dict) or {}
    raw_transitions = top.get("transitions", list) or []
    top.finish()
    states = {
        n: s
        for n, raw in raw_states.items()
        if (s := _parse_state(n, raw, where=where, problems=problems)) is not None
    }
    if header["initial"] is not None and header["initial"] not in states:
        top.problem(f"initial state {header['initial']!r} is not defined")
    transitions = tuple(
        t
        for i, raw in enumerate(raw_transitions)
        if (
            t := _parse_transition(
                i,
                raw,
                where=where,
                states=states,
                known_guards=known_guards,
                known_jobs=known_jobs,
                problems=problems,
            )
        )
        is not None
    )
    names = [t.name for t in transitions if t.name is not None]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        top.problem(f"duplicate transition name {duplicate!r}")
    workflow = Workflow(
        **header,
        states=MappingProxyType(states),
        transitions=transitions,
        digest=hashlib.sha256(text.encode()).hexdigest(),
        source=text,
    )
    resolved = (
        len(states) == len(raw_states)
        and len(transitions) == len(raw_transitions)
        and workflow.initial in states
        and all(t.to in states and t.sources for t in transitions)
    )
    if resolved:
        problems += _check_graph(workflow, where=where)
    return (None if problems else workflow), problems


def check_workflow_text(
    text: str,
    *,
    source: str = "<string>",
    known_guards: Collection[str],
    known_jobs: Collection[str],
) -> list[str]:
    """Every problem in a definition, without raising (empty when it is valid)."""
    return _parse(text, source=source, known_guards=known_guards, known_jobs=known_jobs)[1]


def parse_workflow(
    text: str,
    *,
    source: str = "<string>",
    known_guards: Collection[str],
    known_jobs: Collection[str],
) -> Workflow:
    """Parse and validate a definition; raise ``DefinitionError`` listing every problem."""
    workflow, problems = _parse(
        text, source=source, known_guards=known_guards, known_jobs=known_jobs
    )
    if workflow is None:
        raise DefinitionError(problems)
    return workflow


def _read_file(
    path: Path, *, known_guards: Collection[str], known_jobs: Collection[str]
) -> tuple[Workflow | None, list[str]]:
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{path}: cannot read: {exc}"]
    workflow, problems = _parse(
        text, source=str(path), known_guards=known_guards, known_jobs=known_jobs
    )
    if workflow is not None and workflow.name != path.stem:
        # Deployments override a shipped workflow by file name; a mismatch would hide that.
        return None, [
            f"{path}: workflow {workflow.name!r} must be in a file named {workflow.name}.toml"
        ]
    return workflow, problems


def load_workflow(
    path: Path | str, *, known_guards: Collection[str], known_jobs: Collection[str]
) -> Workflow:
    workflow, problems = _read_file(Path(path), known_guards=known_guards, known_jobs=known_jobs)
    if workflow is None:
        raise DefinitionError(problems)
    return workflow


def load_workflows(
    dirs: Sequence[Path], *, known_guards: Collection[str], known_jobs: Collection[str]
) -> dict[str, Workflow]:
    """Every ``*.toml`` workflow in ``dirs`` (missing directories are skipped), by name; a later
    directory overrides an earlier one. Raises ``DefinitionError`` with the problems of all
    files together, so ``workflows check`` can print them in one run."""
    workflows: dict[str, Workflow] = {}
    problems: list[str] = []
    for directory in map(Path, dirs):
        for path in sorted(directory.glob("*.toml")):
            if path.name == POLICY_FILENAME:
                continue
            workflow, found = _read_file(path, known_guards=known_guards, known_jobs=known_jobs)
            problems.extend(found)
            if workflow is not None:
                workflows[workflow.name] = workflow
    if problems:
        raise DefinitionError(problems)
    return workflows


# --- asking the engine -----------------------------------------------------------------------


def get_state(workflow: Workflow, name: str) -> State:
    try:
        return workflow.states[name]
    except KeyError:
        raise UnknownState(
            f"State {name!r} is not defined in workflow {workflow.name!r} "
            f"(version {workflow.version})."
        ) from None


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
    found = next((t for t in workflow.transitions if t.name == transition), None)
    if found is None:
        raise UnknownTransition(
            f"Workflow {workflow.name!r} (version {workflow.version}) has no transition "
            f"{transition!r}."
        )
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


def sla_hours(workflow: Workflow, state: str, priority: Priority | str) -> int | None:
    """Hours allowed in ``state`` at ``priority``; ``None`` where no SLA applies."""
    return get_state(workflow, state).sla.get(Priority(priority))
