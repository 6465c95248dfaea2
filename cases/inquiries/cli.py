"""`flask --app app dossier --from YYYY-MM-DD --to YYYY-MM-DD [--clause ID …] [--inquiry ID]
--out FILE`: the due-diligence dossier, as PDF, HTML or JSON by the file's extension. Both days
are included; with --inquiry and neither day given, the period is the inquiry's."""

import getpass
from datetime import datetime
from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext

from cases.core.db import session_scope
from cases.core.errors import InputInvalid
from cases.core.periods import last_day, period_options
from cases.inquiries.dossier import FORMATS, generate_dossier
from cases.models import ProviderInquiry

OPTIONS = {"clause": "--clause"}


@click.command("dossier")
@period_options(required=False)
@click.option(
    "--clause",
    "clauses",
    multiple=True,
    metavar="ID",
    help="A clause in question, as in policy.toml (repeatable; none: the whole taxonomy, or the "
    "inquiry's clauses).",
)
@click.option("--inquiry", "inquiry_id", type=int, help="The provider inquiry it answers.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write: .pdf, .html or .json.",
)
@with_appcontext
def dossier_command(
    period: tuple[datetime, datetime] | None,
    clauses: tuple[str, ...],
    inquiry_id: int | None,
    out: Path,
) -> None:
    """Write the due-diligence dossier of the days from --from to --to, both included (default:
    the inquiry's period), and record it: on the inquiry's trail with --inquiry, else in the
    account history."""
    format = out.suffix.removeprefix(".").lower()
    if format not in FORMATS:
        raise click.BadParameter(
            f"the file must end in {', '.join('.' + f for f in FORMATS)}", param_hint="--out"
        )
    if out.exists():
        raise click.BadParameter(f"{out} already exists", param_hint="--out")
    if not out.parent.is_dir():
        raise click.BadParameter(f"no folder {out.parent}", param_hint="--out")
    with session_scope() as session:
        inquiry = None
        if inquiry_id is not None:
            inquiry = session.get(ProviderInquiry, inquiry_id)
            if inquiry is None:
                raise click.BadParameter(f"no inquiry {inquiry_id}", param_hint="--inquiry")
        start, end = _period(period, inquiry)
        try:
            made = generate_dossier(
                session,
                start=start,
                end=end,
                clauses=clauses or (inquiry.clauses if inquiry else ()),
                format=format,
                inquiry=inquiry,
                actor_label=f"operator:{getpass.getuser()}",
                user=None,
            )
        except InputInvalid as exc:
            raise click.BadParameter(str(exc), param_hint=OPTIONS.get(exc.field)) from None
        out.write_bytes(made.document)
        try:
            session.commit()
        except Exception:
            # A dossier whose handing over is not on record would pass for one that was.
            out.unlink(missing_ok=True)
            raise
    checkpoint = made.dossier.checkpoint
    click.echo(f"wrote {out} ({format}, SHA-256 {made.sha256})")
    click.echo(f"period: {start.date()} to {last_day(end)}, both included (UTC)")
    click.echo(
        f"checkpoint: size {checkpoint.size}, root {checkpoint.root}; covers "
        f"{checkpoint.cases} case(s), {checkpoint.events} event(s)"
    )
    click.echo(
        f"recorded on case {made.dossier.inquiry['case']}"
        if inquiry
        else "recorded in the account history (no --inquiry)"
    )


def _period(
    period: tuple[datetime, datetime] | None, inquiry: ProviderInquiry | None
) -> tuple[datetime, datetime]:
    """The period asked for, else the inquiry's, stored as the service takes it: [start, end)."""
    if period is not None:
        return period
    if inquiry is None:
        raise click.UsageError("give --from and --to (or --inquiry, whose period is the default)")
    return inquiry.period_start, inquiry.period_end


def init_app(app: Flask) -> None:
    app.cli.add_command(dossier_command)
