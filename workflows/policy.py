"""The policy taxonomy: the usage-policy clauses the operator enforces, grouped as the policies
group them, each with a default severity, the workflow a case about it opens in and its DSA
statement category and how long its cases' personal data is kept; plus the mapping from OpenAI
moderation categories to clauses. A clause may have sub-clauses (``<clause id>.<name>``): cases are
routed to and counted by them, and they take any setting they leave out from their clause.

Data, like the workflows: ``definitions/policy.toml``, validated as a whole on load (every problem
reported at once, as a ``DefinitionError``). Pure Python.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final

from workflows import dsa
from workflows.model import POLICY_FILENAME, SHIPPED_DIR, DefinitionError, WorkflowKind
from workflows.parser import REQUIRED, TomlTable

SHIPPED_POLICY: Final = SHIPPED_DIR / POLICY_FILENAME

SEVERITIES: Final = range(1, 5)
"""1 is the most severe, 4 the least (the same direction as priorities p1..p4)."""


class ModerationCategory(StrEnum):
    """The categories of the OpenAI moderation endpoint (``omni-moderation``)."""

    harassment = "harassment"
    harassment_threatening = "harassment/threatening"
    hate = "hate"
    hate_threatening = "hate/threatening"
    illicit = "illicit"
    illicit_violent = "illicit/violent"
    self_harm = "self-harm"
    self_harm_intent = "self-harm/intent"
    self_harm_instructions = "self-harm/instructions"
    sexual = "sexual"
    sexual_minors = "sexual/minors"
    violence = "violence"
    violence_graphic = "violence/graphic"


# The DSA Transparency Database's STATEMENT_CATEGORY keys (its `category` field).
DSA_STATEMENT_CATEGORIES: Final = dsa.STATEMENT_CATEGORIES

_GROUP_ID = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclass(frozen=True)
class Clause:
    id: str
    group: str
    label: str
    description: str
    """Plain words for the public report form."""
    severity: int
    workflow: str
    dsa_category: str
    retention_days: int
    """How long after a case closes its personal data is kept (then erased by the sweep)."""
    parent: str | None = None
    """The clause this one is a sub-clause of; ``None`` for a clause of the group itself."""
    title: str = ""
    """The label to show out of context: a sub-clause's says which clause it divides."""


@dataclass(frozen=True)
class PolicyGroup:
    id: str
    label: str
    description: str
    retention_days: int
    clauses: tuple[Clause, ...]
    """Each clause followed by its sub-clauses."""


@dataclass(frozen=True)
class Policy:
    version: int
    label: str
    source_url: str
    groups: tuple[PolicyGroup, ...]
    moderation: Mapping[ModerationCategory, tuple[str, ...]]
    digest: str

    @property
    def clauses(self) -> tuple[Clause, ...]:
        return tuple(c for g in self.groups for c in g.clauses)

    def clause(self, clause_id: str) -> Clause:
        for clause in self.clauses:
            if clause.id == clause_id:
                return clause
        raise KeyError(f"unknown policy clause {clause_id!r}")

    def subclauses(self, clause_id: str) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.parent == clause_id)

    def clauses_for_moderation(self, category: ModerationCategory | str) -> list[Clause]:
        """The clauses a detection in ``category`` may breach, the default one first."""
        return [self.clause(c) for c in self.moderation[ModerationCategory(category)]]


class Limits:
    """What a taxonomy is checked against besides itself."""

    def __init__(
        self,
        *,
        workflows: Collection[str],
        dsa_categories: Collection[str] = DSA_STATEMENT_CATEGORIES,
    ) -> None:
        self.workflows = workflows
        self.dsa_categories = dsa_categories

    def is_inquiry(self, workflow: str) -> bool:
        loaded = self.workflows.get(workflow) if isinstance(self.workflows, Mapping) else None
        return getattr(loaded, "kind", None) == WorkflowKind.inquiry

    def minimum_retention_days(self, workflow: str) -> int:
        """The appeal window and the appeal's review: personal data must outlive both. Only
        known when ``workflows`` maps names to loaded workflows (names alone: 0)."""
        loaded = self.workflows.get(workflow) if isinstance(self.workflows, Mapping) else None
        return getattr(loaded, "minimum_retention_days", 0)


def _parse_clause(
    raw: object,
    *,
    group: str,
    parent: Clause | None,
    defaults: dict,
    where: str,
    limits: Limits,
    problems: list[str],
) -> list[Clause]:
    """The clause and its sub-clauses, in that order; nothing when it is not even a table."""
    if not isinstance(raw, dict):
        problems.append(f"{where}: group {group!r}: every clause must be a table")
        return []
    name = raw.get("id") if isinstance(raw.get("id"), str) else "?"
    table = TomlTable(raw, where=f"{where}: clause {name!r}", problems=problems)
    inherited = parent is not None
    clause = Clause(
        id=table.get("id", str),
        group=group,
        label=table.get("label", str),
        description=table.get("description", str),
        severity=table.get("severity", int, defaults.get("severity", REQUIRED)),
        workflow=table.get("workflow", str, defaults.get("workflow", REQUIRED)),
        dsa_category=table.get("dsa_category", str, defaults.get("dsa_category", REQUIRED)),
        retention_days=table.get("retention_days", int, defaults["retention_days"]),
        parent=parent.id if inherited else None,
    )
    clause = replace(clause, title=f"{parent.label}: {clause.label}" if inherited else clause.label)
    raw_subclauses = table.get("subclauses", list, []) if not inherited else []
    table.finish()
    if clause.id is not None:
        prefix, _, rest = clause.id.partition(".")
        if inherited:
            prefix, rest = clause.id.rpartition(".")[::2]
            if prefix != parent.id or not _GROUP_ID.match(rest):
                table.problem(
                    f"sub-clause ids must read '{parent.id}.<name>' (lower-case letters, digits, _)"
                )
        elif prefix != group or not _GROUP_ID.match(rest):
            table.problem(f"clause ids must read '{group}.<name>' (lower-case letters, digits, _)")
    if clause.severity is not None and clause.severity not in SEVERITIES:
        table.problem(f"severity {clause.severity} is not between 1 and 4")
    if clause.workflow is not None and clause.workflow not in limits.workflows:
        table.problem(f"unknown workflow {clause.workflow!r}")
    elif clause.workflow is not None and limits.is_inquiry(clause.workflow):
        table.problem(f"workflow {clause.workflow!r} is for provider inquiries, not reports")
    if clause.dsa_category is not None and clause.dsa_category not in limits.dsa_categories:
        table.problem(f"unknown DSA statement category {clause.dsa_category!r}")
    if clause.retention_days is not None and clause.workflow is not None:
        minimum = limits.minimum_retention_days(clause.workflow)
        if clause.retention_days < max(minimum, 1):
            table.problem(
                f"retention_days {clause.retention_days} is shorter than the appeal window and "
                f"its review in workflow {clause.workflow!r} ({minimum} days)"
            )
    own = {
        "severity": clause.severity,
        "workflow": clause.workflow,
        "dsa_category": clause.dsa_category,
        "retention_days": clause.retention_days,
    }
    subclauses = [
        sub
        for raw_sub in raw_subclauses or ()
        for sub in _parse_clause(
            raw_sub,
            group=group,
            parent=clause,
            defaults=own,
            where=where,
            limits=limits,
            problems=problems,
        )
    ]
    return [clause, *subclauses]


def _parse_group(
    raw: object, *, where: str, limits: Limits, problems: list[str]
) -> PolicyGroup | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: every group must be a table")
        return None
    name = raw.get("id") if isinstance(raw.get("id"), str) else "?"
    table = TomlTable(raw, where=f"{where}: group {name!r}", problems=problems)
    group_id = table.get("id", str)
    if group_id is not None and not _GROUP_ID.match(group_id):
        table.problem("group ids must be lower-case letters, digits and underscores")
    label = table.get("label", str)
    description = table.get("description", str)
    retention_days = table.get("retention_days", int)
    clauses = tuple(
        clause
        for raw_clause in table.get("clauses", list) or ()
        for clause in _parse_clause(
            raw_clause,
            group=name,
            parent=None,
            defaults={"retention_days": retention_days},
            where=where,
            limits=limits,
            problems=problems,
        )
    )
    table.finish()
    return PolicyGroup(
        id=group_id,
        label=label,
        description=description,
        retention_days=retention_days,
        clauses=clauses,
    )


def _parse_moderation(
    table: TomlTable, raw: Mapping[str, object], clause_ids: Collection[str]
) -> dict[ModerationCategory, tuple[str, ...]]:
    mapping: dict[ModerationCategory, tuple[str, ...]] = {}
    for key, clauses in raw.items():
        category = table.enum_member(key, ModerationCategory, what="moderation category")
        if (
            not isinstance(clauses, list)
            or not clauses
            or not all(isinstance(c, str) for c in clauses)
        ):
            table.problem(f"moderation category {key!r} must map to a non-empty array of clauses")
            continue
        for unknown in (c for c in clauses if c not in clause_ids):
            table.problem(f"moderation category {key!r} maps to unknown clause {unknown!r}")
        if category is not None:
            mapping[category] = tuple(clauses)
    for category in ModerationCategory:
        if category not in raw:
            table.problem(f"moderation category {category.value!r} is not mapped to any clause")
    return mapping


def parse_policy(
    text: str,
    *,
    source: str = "<string>",
    workflows: Collection[str],
    dsa_categories: Collection[str] = DSA_STATEMENT_CATEGORIES,
) -> Policy:
    """Parse and validate a taxonomy; ``workflows`` are the names a clause may open in (or the
    loaded workflows by name, which also bounds retention from below)."""
    limits = Limits(workflows=workflows, dsa_categories=dsa_categories)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError([f"{source}: TOML syntax error: {exc}"]) from None
    problems: list[str] = []
    top = TomlTable(data, where=source, problems=problems)
    version = top.get("version", int)
    label = top.get("label", str)
    source_url = top.get("source_url", str)
    groups = tuple(
        g
        for raw in top.get("groups", list) or ()
        if (g := _parse_group(raw, where=source, limits=limits, problems=problems)) is not None
    )
    clause_ids = [c.id for g in groups for c in g.clauses]
    for kind, ids in (("group", [g.id for g in groups]), ("clause", clause_ids)):
        for duplicate in sorted({i for i in ids if i is not None and ids.count(i) > 1}):
            top.problem(f"duplicate {kind} id {duplicate!r}")
    moderation = _parse_moderation(top, top.get("moderation", dict) or {}, clause_ids)
    top.finish()
    if problems:
        raise DefinitionError(problems)
    return Policy(
        version=version,
        label=label,
        source_url=source_url,
        groups=groups,
        moderation=MappingProxyType(moderation),
        digest=hashlib.sha256(text.encode()).hexdigest(),
    )


def load_policy(
    path: Path | str,
    *,
    workflows: Collection[str],
    dsa_categories: Collection[str] = DSA_STATEMENT_CATEGORIES,
) -> Policy:
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([f"{path}: cannot read: {exc}"]) from None
    return parse_policy(text, source=str(path), workflows=workflows, dsa_categories=dsa_categories)
