"""`flask --app app users …` and `flask --app app api-keys …`. Each command commits once and asks
no confirmation (they run from scripts and incident runbooks); every change is an account event
recorded as made from the command line."""

import sys

import click
from flask import Flask
from flask.cli import AppGroup
from sqlmodel import Session

from cases.accounts.service import (
    AccountError,
    create_api_key,
    create_user,
    deactivate_user,
    get_api_key_by_name,
    get_user_by_email,
    list_api_keys,
    reactivate_user,
    revoke_api_key,
    set_password,
)
from cases.core.db import session_scope
from cases.enums import ApiScope, Role
from cases.models import ApiKey, User

users_cli = AppGroup("users", help="Staff accounts.")


keys_cli = AppGroup("api-keys", help="API keys for integrations.")


def _user(session: Session, email: str) -> User:
    user = get_user_by_email(session, email=email)
    if user is None:
        raise click.ClickException(f"no staff account with email {email.strip().lower()!r}")
    return user


def _api_key(session: Session, name: str) -> ApiKey:
    api_key = get_api_key_by_name(session, name=name)
    if api_key is None:
        raise click.ClickException(f"no API key named {name.strip()!r}")
    return api_key


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


@users_cli.command("deactivate")
@click.argument("email")
def users_deactivate(email: str) -> None:
    """Take a staff member's access away at once: their open sessions end too."""
    with session_scope() as session:
        user = _user(session, email)
        changed = deactivate_user(session, user=user, actor=None)
        session.commit()
        click.echo(f"deactivated {user.email}" if changed else f"{user.email} was already inactive")


@users_cli.command("reactivate")
@click.argument("email")
def users_reactivate(email: str) -> None:
    """Let a deactivated staff member sign in again."""
    with session_scope() as session:
        user = _user(session, email)
        changed = reactivate_user(session, user=user, actor=None)
        session.commit()
        click.echo(f"reactivated {user.email}" if changed else f"{user.email} was already active")


@users_cli.command("set-password")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the new password from the first line of standard input instead of prompting.",
)
def users_set_password(email: str, password_stdin: bool) -> None:
    """Give a staff member a new password; their open sessions end."""
    with session_scope() as session:
        user = _user(session, email)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt(
                "New password", hide_input=True, confirmation_prompt=True, err=True
            )
        try:
            set_password(session, user=user, password=password, actor=None)
        except AccountError as exc:
            raise click.UsageError(str(exc)) from None
        session.commit()
        click.echo(f"new password set for {user.email}; their open sessions were ended")


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


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


@keys_cli.command("list")
def api_keys_list() -> None:
    """Every API key: name, scopes, created, last used, revoked (times in UTC)."""
    with session_scope() as session:
        keys = list_api_keys(session)
    if not keys:
        click.echo("No API keys.")
        return
    header = ("NAME", "SCOPES", "CREATED", "LAST USED", "REVOKED")
    rows = [
        (
            k.name,
            ",".join(k.scopes),
            _when(k.created_at),
            _when(k.last_used_at),
            _when(k.revoked_at),
        )
        for k in keys
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


@keys_cli.command("revoke")
@click.argument("name")
def api_keys_revoke(name: str) -> None:
    """Revoke an API key for good: its next request is refused."""
    with session_scope() as session:
        api_key = _api_key(session, name)
        changed = revoke_api_key(session, api_key=api_key, actor=None)
        session.commit()
        click.echo(f"{api_key.name!r} {'is revoked' if changed else 'was already revoked'}")


def init_app(app: Flask) -> None:
    for group in (users_cli, keys_cli):
        app.cli.add_command(group)
