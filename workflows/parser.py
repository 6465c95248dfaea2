"""Reading workflow definitions: TOML into a validated ``Workflow``, every problem reported at
once. The rules about the whole graph are in ``validation``."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Collection, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar

from workflows.model import (
    DECISION_FIELDS,
    DEFAULT_APPEAL_WINDOW_DAYS,
    MIN_APPEAL_WINDOW_DAYS,
    POLICY_FILENAME,
    AppealOutcome,
    DecisionKind,
    DefinitionError,
    PriorityBand,
    RequiredField,
    Role,
    Stage,
    State,
    Transition,
    Workflow,
    WorkflowKind,
)
from workflows.validation import check_graph

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


_E = TypeVar("_E", bound=StrEnum)


REQUIRED: Final = object()


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

    def get(self, key: str, kind: type, default: Any = REQUIRED) -> Any:
        """The value of ``key``, or ``None`` (after recording why) when missing or mistyped."""
        self._seen.add(key)
        if key not in self._data:
            if default is REQUIRED:
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

    def get_strings(self, key: str, *, default: Any = REQUIRED) -> list[str] | None:
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


def _parse_sla(table: TomlTable, raw: Mapping[str, Any] | None) -> dict[PriorityBand, int]:
    sla: dict[PriorityBand, int] = {}
    for key, hours in (raw or {}).items():
        priority = table.enum_member(key, PriorityBand, what="priority in sla")
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
    decides = table.get("decides", str, None)
    if decides is not None:
        decides = table.enum_member(decides, DecisionKind, what="decision kind in 'decides'")
    ends_appeal = table.get("ends_appeal", str, None)
    if ends_appeal is not None:
        ends_appeal = table.enum_member(ends_appeal, AppealOutcome, what="outcome in 'ends_appeal'")
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
        decides=decides,
        files_appeal=table.get("files_appeal", bool, False),
        ends_appeal=ends_appeal,
    )
    if decides is not None:
        missing = sorted(DECISION_FIELDS[decides] - set(transition.requires))
        if missing:
            table.problem(f"decides {decides.value!r} but does not require {', '.join(missing)}")
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
        "appeal_window_days": top.get("appeal_window_days", int, DEFAULT_APPEAL_WINDOW_DAYS),
    }
    window = header["appeal_window_days"]
    if window is not None and window < MIN_APPEAL_WINDOW_DAYS:
        top.problem(
            f"'appeal_window_days' must be at least {MIN_APPEAL_WINDOW_DAYS} "
            "(DSA Art. 20: six months)"
        )
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
        problems += check_graph(workflow, where=where)
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
