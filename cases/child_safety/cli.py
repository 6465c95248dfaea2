"""`flask --app app holds …`: place a legal hold (or record a law-enforcement preservation
request) and extend one, from the command line. Operators at the server's shell are cleared for
every case, restricted ones included; each change is recorded with their login name."""

import getpass

import click
from flask.cli import AppGroup
from sqlmodel import Session, select

from cases.child_safety.holds import (
    KIND_LABELS,
    PLACED_BY_PEOPLE,
    HoldError,
    extend_hold_by_days,
    find_active_hold,
    place_hold_for_days,
    retain_held_files_later,
)
from cases.core.db import session_scope
from cases.core.sqltypes import utcnow
from cases.enums import HoldKind
from cases.evidence.blobs import object_store
from cases.lifecycle.actors import Actor
from cases.models import Case, Hold

holds_cli = AppGroup("holds", help="Legal holds and law-enforcement preservation requests.")

DAYS_HELP = "Days the hold runs (from now; with `extend`, added to its end). Not for requests."
REFERENCE_HELP = "The law-enforcement request's reference (with --kind law_enforcement)."


def _operator() -> Actor:
    return Actor(label=f"operator:{getpass.getuser()}", roles=frozenset())


def _case(session: Session, reference: str) -> Case:
    case = session.exec(select(Case).where(Case.reference == reference)).first()
    if case is None:
        raise click.UsageError(f"no case {reference}")
    return case


def _done(hold: Hold, reference: str) -> None:
    click.echo(
        f"{KIND_LABELS[hold.kind]} {hold.id} on {reference} until {hold.until:%Y-%m-%d %H:%M} UTC"
    )


@holds_cli.command("place")
@click.argument("reference")
@click.option("--days", type=int, help=DAYS_HELP)
@click.option("--reason", required=True, help="Why the case is held (recorded on its trail).")
@click.option(
    "--kind",
    type=click.Choice([kind.value for kind in PLACED_BY_PEOPLE]),
    default=HoldKind.legal.value,
    show_default=True,
)
@click.option("--request-reference", help=REFERENCE_HELP)
def place(
    reference: str, days: int | None, reason: str, kind: str, request_reference: str | None
) -> None:
    """Hold case REFERENCE; if it already has an active hold of this kind, extend that one."""
    with session_scope() as session:
        try:
            hold = place_hold_for_days(
                session,
                case=_case(session, reference),
                kind=HoldKind(kind),
                days=days,
                reason=reason,
                request_reference=request_reference,
                actor=_operator(),
            )
        except HoldError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
    _done(hold, reference)


@holds_cli.command("extend")
@click.argument("reference")
@click.option("--days", type=int, help=DAYS_HELP)
@click.option("--reason", required=True, help="Why the hold is extended.")
@click.option(
    "--kind",
    type=click.Choice([kind.value for kind in HoldKind]),
    default=HoldKind.legal.value,
    show_default=True,
    help="Which of the case's active holds.",
)
@click.option("--request-reference", help="The renewed request's reference (law_enforcement).")
def extend(
    reference: str, days: int | None, reason: str, kind: str, request_reference: str | None
) -> None:
    """Extend case REFERENCE's active hold of this kind (renew a law-enforcement request)."""
    with session_scope() as session:
        case = _case(session, reference)
        try:
            hold = extend_hold_by_days(
                session,
                hold=find_active_hold(session, case=case, kind=HoldKind(kind)),
                case=case,
                days=days,
                reason=reason,
                request_reference=request_reference,
                actor=_operator(),
            )
        except HoldError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
    _done(hold, reference)


@holds_cli.command("retain-files")
def retain_files() -> None:
    """Have the object store lock the files of every active hold until its end (after moving
    evidence to an object store; placing and extending holds does it on its own)."""
    if object_store() is None:
        raise click.UsageError("no object store is configured (FLASK_BLOB_STORE_URL)")
    with session_scope() as session:
        held = session.exec(select(Hold.case_id).where(Hold.until > utcnow()).distinct()).all()
        for case_id in sorted(held):
            retain_held_files_later(session, case_id=case_id)
        session.commit()
    click.echo(f"queued the lock of the files of {len(held)} held case(s)")
