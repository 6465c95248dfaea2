"""`flask --app app dsa …`: statements of reasons in the DSA Transparency Database's format.

    dsa export --from 2026-01-01 --to 2026-06-30 --out statements.json
    dsa submit --from 2026-01-01 --to 2026-06-30

Both days are included: a period runs from the start of `--from` to the end of `--to` (UTC).
"""

from datetime import datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from cases.core.db import session_scope
from cases.core.periods import period_options
from cases.dsa.client import TransparencyConfigError
from cases.dsa.service import StatementsInvalid, export_statements, queue_submission

dsa_cli = AppGroup("dsa", help="DSA statements of reasons: export and Transparency Database.")

SHOWN_PROBLEMS = 20


def _refuse(exc: StatementsInvalid, what: str) -> click.ClickException:
    shown = "\n".join(f"  {problem}" for problem in exc.problems[:SHOWN_PROBLEMS])
    more = len(exc.problems) - SHOWN_PROBLEMS
    tail = f"\n  … and {more} more" if more > 0 else ""
    return click.ClickException(
        f"{len(exc.problems)} problem(s) with the statements; {what}:\n{shown}{tail}"
    )


@dsa_cli.command("export")
@period_options()
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False))
def export(period: tuple[datetime, datetime], out: Path) -> None:
    """Write every restriction decision of the period as Transparency Database JSON."""
    start, end = period
    with session_scope() as session:
        try:
            count = export_statements(session, start=start, end=end, out=out)
        except StatementsInvalid as exc:
            raise _refuse(exc, "nothing was written") from None
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {count} statement(s) of reasons to {out}")


@dsa_cli.command("submit")
@period_options()
def submit(period: tuple[datetime, datetime]) -> None:
    """Queue the period's unsubmitted statements for the Transparency Database."""
    start, end = period
    with session_scope() as session:
        try:
            queued = queue_submission(session, start=start, end=end, config=current_app.config)
        except TransparencyConfigError as exc:
            raise click.ClickException(str(exc)) from None
        except StatementsInvalid as exc:
            raise _refuse(exc, "nothing was queued") from None
        session.commit()
    click.echo(
        f"queued {queued.statements} statement(s) in {queued.batches} batch(es); "
        f"{queued.already_submitted} already submitted"
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(dsa_cli)
