"""`flask --app app ncmec …`: check the CyberTipline credentials, and queue a case's report."""

import click
from flask import current_app
from flask.cli import AppGroup
from sqlmodel import select

from cases.child_safety.ncmec.builder import ReportInvalid
from cases.child_safety.ncmec.client import NcmecConfigError, NcmecError, client_from_config
from cases.child_safety.ncmec.service import NcmecRefused
from cases.child_safety.ncmec.submission import queue_submission
from cases.core.db import session_scope
from cases.core.security import PermissionDenied
from cases.lifecycle.actors import Actor
from cases.models import Case, User
from workflows import TransitionRefused

ncmec_cli = AppGroup("ncmec", help="NCMEC CyberTipline reporting.")


@ncmec_cli.command("status")
def status() -> None:
    """Check the NCMEC settings and credentials against the endpoint's /status (exit 1 if not)."""
    config = current_app.config
    try:
        client = client_from_config(config)
        answer = client.status()
    except (NcmecConfigError, NcmecError) as exc:
        click.echo(f"FAIL: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(
        f"OK: {client.base_url} ({config['NCMEC_ENVIRONMENT']}) answered: {answer.description} "
        f"(Request-ID {answer.request_id or 'none'})"
    )


@ncmec_cli.command("submit")
@click.argument("reference")
@click.option(
    "--as",
    "as_email",
    help="Email of the child-safety specialist holding the case, to submit a draft as them.",
)
def submit(reference: str, as_email: str | None) -> None:
    """Queue the prepared CyberTipline report of case REFERENCE."""
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).first()
        if case is None:
            raise click.UsageError(f"no case {reference}")
        actor = None
        if as_email:
            user = session.exec(select(User).where(User.email == as_email.lower())).first()
            if user is None or not user.active:
                raise click.UsageError(f"no active staff account {as_email}")
            actor = Actor.staff(user)
        try:
            outcome = queue_submission(session, case=case, config=current_app.config, actor=actor)
        except (NcmecRefused, ReportInvalid, TransitionRefused, PermissionDenied) as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
    click.echo(f"{reference}: {outcome}")
