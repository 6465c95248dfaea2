"""The workflows and policy taxonomy a deployment runs, loaded once and validated.

Shipped definitions live in workflows/definitions/; a deployment adds or overrides them in
instance/workflows/. A case records the digest of the definition it started on, and the exact text
is kept in `workflow_definition`, so a case in flight keeps its version when a file changes.
"""

from collections.abc import Collection
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from cases.core.sqltypes import utcnow
from cases.models import WorkflowDefinition
from workflows import (
    DSA_STATEMENT_CATEGORIES,
    KNOWN_GUARDS,
    KNOWN_JOBS,
    SHIPPED_DIR,
    SHIPPED_POLICY,
    Policy,
    Workflow,
    load_policy,
    load_workflows,
    parse_workflow,
)

EXTENSION = "docket.definitions"


def definition_dirs(instance_path: str) -> list[Path]:
    return [SHIPPED_DIR, Path(instance_path) / "workflows"]


class Definitions:
    """The current workflows by name, and the policy taxonomy."""

    def __init__(
        self, dirs: list[Path], *, dsa_categories: Collection[str] = DSA_STATEMENT_CATEGORIES
    ):
        self.workflows: dict[str, Workflow] = load_workflows(
            dirs, known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS
        )
        policy_path = next(
            (d / "policy.toml" for d in reversed(dirs) if (d / "policy.toml").exists()),
            SHIPPED_POLICY,
        )
        self.policy: Policy = load_policy(
            policy_path, workflows=self.workflows, dsa_categories=dsa_categories
        )
        # Digests known to be on record in the database (rows are never deleted): checked once
        # per process, not on every case opened.
        self.registered: set[str] = set()

    def current(self, name: str) -> Workflow:
        try:
            return self.workflows[name]
        except KeyError:
            raise LookupError(f"no workflow named {name!r}") from None


def definitions() -> Definitions:
    """The deployment's definitions, loaded on first use (so `workflows check` can still run and
    report the problems of a broken file instead of the app failing to start)."""
    if EXTENSION not in current_app.extensions:
        current_app.extensions[EXTENSION] = Definitions(definition_dirs(current_app.instance_path))
    return current_app.extensions[EXTENSION]


_DEFINITION_EXISTS = sa.select(sa.literal(1)).where(
    WorkflowDefinition.__table__.c.digest == sa.bindparam("digest")
)
# The digests this session's transaction inserted (a session lives for one request or job).
_INSERTED = "docket.definitions.inserted"


@cache
def _insert_definition(dialect: str) -> sa.Insert:
    """INSERT … ON CONFLICT DO NOTHING: the first case on a new definition is often opened by
    several processes at once (a fresh database, a changed file deployed to every machine)."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
        WorkflowDefinition.__table__
    )
    return insert.on_conflict_do_nothing(index_elements=["digest"])


def register_definition(session: Session, workflow: Workflow) -> None:
    """Keep the exact text of a definition a case is about to run on (once per digest)."""
    known = definitions().registered
    if workflow.digest in known:
        return
    found = session.execute(_DEFINITION_EXISTS, {"digest": workflow.digest}).first()
    inserted_here = session.info.setdefault(_INSERTED, set())
    if found is not None:
        # Committed by someone (read committed), unless this transaction inserted it: that one
        # could still roll back, so only a row found otherwise is remembered.
        if workflow.digest not in inserted_here:
            known.add(workflow.digest)
        return
    session.execute(
        _insert_definition(session.bind.dialect.name),
        {
            "digest": workflow.digest,
            "name": workflow.name,
            "version": workflow.version,
            "source": workflow.source,
            "registered_at": utcnow(),
        },
    )
    inserted_here.add(workflow.digest)


def workflow_for(session: Session, *, name: str, digest: str) -> Workflow:
    """The definition a case runs on, by the digest it recorded."""
    current = definitions().workflows.get(name)
    if current is not None and current.digest == digest:
        return current
    stored = session.get(WorkflowDefinition, digest)
    if stored is None:
        raise LookupError(f"workflow {name!r} with digest {digest[:12]}… is not on record")
    return _parse_stored(stored.source, stored.digest)


@cache
def _parse_stored(source: str, digest: str) -> Workflow:
    workflow = parse_workflow(
        source, source=f"stored:{digest[:12]}", known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS
    )
    if workflow.digest != digest:
        raise LookupError(f"stored workflow {digest[:12]}… does not hash to its digest")
    return workflow
