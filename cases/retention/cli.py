"""`flask --app app retention sweep [--dry-run]`: erase the personal data of cases past their
retention now (the daily job does the same), one committed batch at a time."""

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from cases.core.db import get_engine, session_scope
from cases.core.sqltypes import utcnow
from cases.retention.service import SWEEP_BATCH, SweepResult, sweep
from cases.retention.traces import purge_traces

retention_cli = AppGroup("retention", help="Retention schedules: erase what is past its time.")


@retention_cli.command("sweep")
@click.option("--dry-run", is_flag=True, help="List what would be erased and what is held.")
def sweep_command(dry_run: bool) -> None:
    """Erase the personal data of every case past its retention; list held cases (skipped)."""
    now, total, after = utcnow(), SweepResult(), None
    while True:
        with session_scope() as session:
            result = sweep(session, now=now, after_id=after, limit=SWEEP_BATCH, dry_run=dry_run)
            if not dry_run:
                session.commit()
        total.erased += result.erased
        total.skipped += result.skipped
        total.failed += result.failed
        if not result.more:
            break
        after = result.last_id
    if total.erased and not dry_run:
        purge_traces(get_engine())
    verb = "would erase" if dry_run else "erased"
    for reference in total.erased:
        click.echo(f"{verb} {reference}")
    for reference, holds in total.skipped:
        click.echo(f"skipped {reference}: under {holds}")
    for reference, error in total.failed:
        click.echo(f"failed {reference}: {error}")
    click.echo(
        f"{verb} {len(total.erased)} case(s); skipped {len(total.skipped)} under a hold"
        + (f"; {len(total.failed)} failed" if total.failed else "")
    )
    if total.failed:
        sys.exit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(retention_cli)
