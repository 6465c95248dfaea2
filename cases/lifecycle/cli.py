"""`flask --app app workflows …` (check and draw the definitions) and
`flask --app app sla sweep`."""

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from cases.core.db import session_scope
from cases.lifecycle.deployed import Definitions, definition_dirs, definitions
from cases.lifecycle.transitions import sweep
from workflows import (
    DSA_STATEMENT_CATEGORIES,
    KNOWN_GUARDS,
    KNOWN_JOBS,
    DefinitionError,
    check_workflow_text,
    to_dot,
    to_mermaid,
)

sla_cli = AppGroup("sla", help="Service-level timers.")
workflows_cli = AppGroup("workflows", help="Workflow definitions: check and draw them.")


def _statement_categories(path: Path) -> list[str]:
    """The STATEMENT_CATEGORIES keys of a Transparency Database enumerations file."""
    try:
        categories = json.loads(path.read_bytes())["STATEMENT_CATEGORIES"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.BadParameter(f"no STATEMENT_CATEGORIES in {path}: {exc}") from None
    if not isinstance(categories, dict | list):
        raise click.BadParameter(f"STATEMENT_CATEGORIES in {path} is not a list or an object")
    return list(categories)


@workflows_cli.command("check")
@click.argument("file", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--dsa-enums",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check the taxonomy's DSA categories against this transparency-db-enums.json "
    "instead of the copy built in.",
)
def check(file: Path | None, dsa_enums: Path | None) -> None:
    """Validate FILE, or every shipped and instance definition and the policy taxonomy."""
    dsa_categories = _statement_categories(dsa_enums) if dsa_enums else DSA_STATEMENT_CATEGORIES
    if file is not None:
        problems = check_workflow_text(
            file.read_text(), source=str(file), known_guards=KNOWN_GUARDS, known_jobs=KNOWN_JOBS
        )
        checked = [str(file)]
    else:
        dirs = definition_dirs(current_app.instance_path)
        checked = [str(p) for d in dirs for p in sorted(d.glob("*.toml"))]
        try:
            Definitions(dirs, dsa_categories=dsa_categories)
            problems = []
        except DefinitionError as exc:
            problems = exc.problems
    for problem in problems:
        click.echo(f"problem: {problem}")
    if problems:
        click.echo(f"{len(problems)} problem(s) in {len(checked)} file(s)")
        sys.exit(1)
    click.echo(f"ok: {len(checked)} file(s) checked")


@workflows_cli.command("graph")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid")
def graph(name: str, fmt: str) -> None:
    """Print workflow NAME as a Mermaid or Graphviz DOT diagram."""
    try:
        workflow = definitions().current(name)
    except LookupError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(to_mermaid(workflow) if fmt == "mermaid" else to_dot(workflow))


@sla_cli.command("sweep")
def sla_sweep() -> None:
    """Record SLA breaches (escalating where the workflow says) and fire due system transitions."""
    with session_scope() as session:
        changed = sweep(session)
        session.commit()
    click.echo(f"{changed} case(s) changed")


def init_app(app: Flask) -> None:
    for group in (workflows_cli, sla_cli):
        app.cli.add_command(group)
