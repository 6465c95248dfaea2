"""Command-line interface: `flask --app app <group> <command>`. Each command commits once."""

import click
from flask import Flask
from flask.cli import AppGroup

from cases import migrate
from cases.accounts import AccountError, create_api_key, create_user
from cases.db import get_engine, session_scope
from cases.enums import ApiScope, Role
from cases.transitions import sweep

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")
users_cli = AppGroup("users", help="Staff accounts.")
keys_cli = AppGroup("api-keys", help="API keys for integrations.")
sla_cli = AppGroup("sla", help="Service-level timers.")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: the newest)."""
    migrate.upgrade(get_engine(), revision)
    click.echo(f"database at {revision}")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", default="")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_create(email: str, role: str, name: str, password: str) -> None:
    """Create a staff account (prompts for the password when --password is not given)."""
    with session_scope() as session:
        try:
            user = create_user(session, email=email, password=password, role=role, name=name)
        except AccountError as exc:
            raise click.UsageError(str(exc)) from None
        session.commit()
        click.echo(f"created {user.email} ({user.role})")


@keys_cli.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice([s.value for s in ApiScope]),
    help="Repeat for several; default: every scope.",
)
def api_keys_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create an API key and print it once, alone on the last line."""
    with session_scope() as session:
        try:
            api_key, key = create_api_key(
                session, name=name, scopes=list(scopes) or [s.value for s in ApiScope]
            )
        except AccountError as exc:
            raise click.UsageError(str(exc)) from None
        session.commit()
        click.echo(f"API key {api_key.name!r} with scopes {', '.join(api_key.scopes)}.")
        click.echo("Store it now: only its hash is kept and it will not be shown again.")
        click.echo(key)


@sla_cli.command("sweep")
def sla_sweep() -> None:
    """Record SLA breaches (escalating where the workflow says) and fire due system transitions."""
    with session_scope() as session:
        changed = sweep(session)
        session.commit()
    click.echo(f"{changed} case(s) changed")


@click.command("demo")
def demo_command() -> None:
    """Seed demo data (one user per role, realistic cases); safe to run twice."""
    from cases.demo import seed_demo

    with session_scope() as session:
        for line in seed_demo(session):
            click.echo(line)
        session.commit()


def init_app(app: Flask) -> None:
    for command in (db_cli, users_cli, keys_cli, sla_cli, demo_command):
        app.cli.add_command(command)
