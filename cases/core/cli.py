"""The root command group's own commands: `flask --app app db upgrade`. Each domain adds its
group from its own `cli.py`; each command commits once."""

import click
from flask import Flask
from flask.cli import AppGroup

from cases.core import migrate
from cases.core.db import get_engine

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: the newest)."""
    migrate.upgrade(get_engine(), revision)
    click.echo(f"database at {revision}")


def init_app(app: Flask) -> None:
    app.cli.add_command(db_cli)
