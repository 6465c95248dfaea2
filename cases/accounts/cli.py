"""`flask --app app users …` and `flask --app app api-keys …`. Each command commits once."""

import click
from flask import Flask
from flask.cli import AppGroup

from cases.accounts.service import AccountError, create_api_key, create_user
from cases.core.db import session_scope
from cases.enums import ApiScope, Role

users_cli = AppGroup("users", help="Staff accounts.")


keys_cli = AppGroup("api-keys", help="API keys for integrations.")


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


def init_app(app: Flask) -> None:
    for group in (users_cli, keys_cli):
        app.cli.add_command(group)
