"""`flask --app app transparency report --from YYYY-MM-DD --to YYYY-MM-DD [--format json|csv]`:
a period's transparency figures on standard output (the same as the page's downloads)."""

import json
from datetime import datetime

import click
from flask import Flask
from flask.cli import AppGroup

from cases.core.db import get_engine, session_scope, snapshot
from cases.core.periods import period_options
from cases.transparency.service import figures_csv, transparency_figures

transparency_cli = AppGroup("transparency", help="Transparency figures (DSA Art. 15 and 24).")


@transparency_cli.command("report")
@period_options()
@click.option(
    "--format",
    "output",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="JSON (plain keys) or CSV (figure,key,value).",
)
def report(period: tuple[datetime, datetime], output: str) -> None:
    """Print the figures of the days from --from to --to, both included, in UTC."""
    start, end = period
    with session_scope(snapshot(get_engine())) as session:
        figures = transparency_figures(session, start=start, end=end)
    if output == "csv":
        click.echo(figures_csv(figures), nl=False)
    else:
        click.echo(json.dumps(figures.as_dict(), indent=2))


def init_app(app: Flask) -> None:
    app.cli.add_command(transparency_cli)
