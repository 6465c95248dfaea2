"""`flask --app app trail …`: integrate, verify, checkpoint, export, erase (`cases.retention`),
and print the public key."""

import getpass
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlmodel import Session, select

from cases.audit.signing import pending_alert, signer
from cases.core.db import get_engine, session_scope, snapshot
from cases.core.errors import InputInvalid
from cases.evidence.blobs import blob_store
from cases.evidence.service import withheld_evidence
from cases.models import Case
from cases.retention.service import erase_case
from cases.retention.traces import purge_traces
from cases.trail.audit import verify_trail
from cases.trail.checkpoints import sign_log_checkpoint
from cases.trail.erasure import ErasureRefused
from cases.trail.events import TrailError
from cases.trail.export import export_case
from cases.trail.signed_notes import CheckpointError
from cases.trail.store import integrate_log

trail_cli = AppGroup("trail", help="The evidence trail: verify, checkpoint, export, erase.")


def operator_actor() -> str:
    return f"operator:{getpass.getuser()}"


def _case(session: Session, reference: str) -> Case:
    case = session.exec(select(Case).where(Case.reference == reference)).first()
    if case is None:
        raise click.UsageError(f"no case {reference}")
    return case


@trail_cli.command("public-key")
def public_key() -> None:
    """Print the verifier key that `python -m cases.trail.verify --public-key FILE` accepts."""
    click.echo(signer().verifier_key)


@trail_cli.command("checkpoint")
def checkpoint() -> None:
    """Sign and store a checkpoint of the log as it stands."""
    with session_scope() as session:
        try:
            signed = sign_log_checkpoint(
                session, signer=signer(), origin=current_app.config["TRAIL_ORIGIN"]
            )
        except TrailError as exc:
            raise click.ClickException(f"refusing to sign: {exc}") from None
        session.commit()
        click.echo(signed.note, nl=False)


@trail_cli.command("integrate")
def integrate() -> None:
    """Give every pending event its log index now (normally done right after commit, or every
    second by a worker)."""
    with session_scope() as session:
        count = integrate_log(session)
        session.commit()
    click.echo(f"integrated {count} pending event(s)")


@trail_cli.command("verify")
@click.option("--case", "case_ref", help="Verify one case (and the log it lives in).")
def verify(case_ref: str | None) -> None:
    """Re-check chains, leaves, the root against every checkpoint, and blob hashes."""
    with session_scope(snapshot(get_engine())) as session:
        try:
            report = verify_trail(
                session,
                verifier_key=signer().verifier_key,
                store=blob_store(),
                case_ref=case_ref,
                pending_alert=pending_alert(),
            )
        except TrailError as exc:
            click.echo(f"FAIL: {exc}")
            sys.exit(1)
    for line in report.lines():
        click.echo(line)
    click.echo("PASS")


@trail_cli.command("export")
@click.argument("reference")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder or .zip.")
@click.option(
    "--with-restricted-media",
    is_flag=True,
    help="Include child-safety media (left out by default, and named as withheld): only for a "
    "recipient cleared to hold it, such as law enforcement.",
)
def export(reference: str, out: Path, with_restricted_media: bool) -> None:
    """Write the case's evidence bundle (signing a fresh checkpoint first)."""
    if out.exists():
        raise click.UsageError(f"{out} already exists")
    with session_scope() as session:
        case = _case(session, reference)
        withhold = (
            {} if with_restricted_media else withheld_evidence(session, case=case, viewer=None)
        )
        try:
            written = export_case(
                session,
                case=case,
                out=out,
                signer=signer(),
                origin=current_app.config["TRAIL_ORIGIN"],
                store=blob_store(),
                actor=operator_actor(),
                withhold=withhold,
            )
        except (TrailError, CheckpointError) as exc:
            # A log that no longer matches its checkpoints is not exported: say so, no traceback.
            raise click.ClickException(f"refusing to export: {exc}") from None
        session.commit()
    click.echo(f"wrote {written}")
    if withhold:
        click.echo(
            f"withheld {len(withhold)} restricted file(s), named by SHA-256 in the bundle "
            "(--with-restricted-media includes them)"
        )
    click.echo(
        f"verify offline: python -m cases.trail.verify {written} --public-key KEYFILE "
        "(KEYFILE holding the output of `flask --app app trail public-key`)"
    )


@trail_cli.command("erase")
@click.argument("reference")
@click.option(
    "--reason", required=True, help="Why, in one line (e.g. an erasure request's ticket)."
)
def erase(reference: str, reason: str) -> None:
    """Erase a case's personal data: trail payloads, working tables, evidence files, mail copies
    (GDPR Art. 17). Refused, exit 1, while a hold covers the case."""
    with session_scope() as session:
        try:
            erase_case(
                session, case=_case(session, reference), actor=operator_actor(), reason=reason
            )
        except ErasureRefused as exc:
            raise click.ClickException(str(exc)) from None
        except InputInvalid as exc:
            raise click.BadParameter(str(exc), param_hint="--reason") from None
        session.commit()
    purge_traces(get_engine())
    click.echo(f"erased the personal data of {reference}; the chain still verifies")


def init_app(app: Flask) -> None:
    app.cli.add_command(trail_cli)
