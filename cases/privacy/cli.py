"""`flask --app app access-request export SUBJECT_ID --out DIR`: answer a subject's access request
from the command line (opening one when none is open)."""

import getpass
from pathlib import Path

import click
from flask.cli import AppGroup

from cases.core.db import session_scope
from cases.enums import SubjectKind
from cases.privacy.service import (
    AccessChannel,
    SubjectNotFound,
    find_subject,
    fulfil_request,
    request_access,
)

access_request_cli = AppGroup(
    "access-request", help="Data subjects' access requests (GDPR Art. 15)."
)


@access_request_cli.command("export")
@click.argument("subject_id")
@click.option(
    "--kind",
    type=click.Choice([kind.value for kind in SubjectKind]),
    default=SubjectKind.account.value,
    show_default=True,
    help="What SUBJECT_ID names.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into (created if missing).",
)
def export(subject_id: str, kind: str, out: Path) -> None:
    """Write the export of SUBJECT_ID (the id on the operator's platform) as JSON and HTML, and
    record the subject's access request as fulfilled."""
    actor = f"operator:{getpass.getuser()}"
    with session_scope() as session:
        try:
            subject = find_subject(session, kind=kind, external_id=subject_id)
        except SubjectNotFound as exc:
            raise click.ClickException(str(exc)) from None
        request = request_access(
            session, subject=subject, case=None, channel=AccessChannel.staff, requested_by=actor
        )
        # The operator is cleared for everything: restricted cases are included, and said so.
        done = fulfil_request(session, request=request, actor_label=actor)
        paths = [out / f"{done.name}.{format}" for format in ("json", "html")]
        existing = [str(path) for path in paths if path.exists()]
        if existing:
            raise click.UsageError(f"{', '.join(existing)} already exists")
        out.mkdir(parents=True, exist_ok=True)
        for path in paths:
            path.write_bytes(done.file(path.suffix.removeprefix(".")))
        try:
            session.commit()
        except Exception:
            # Files of an export that is not recorded as given would pass for one that was.
            for path in paths:
                path.unlink(missing_ok=True)
            raise
    for path in paths:
        click.echo(f"wrote {path}")
    click.echo(
        f"access request {done.request.id} fulfilled; export SHA-256 {done.request.export_sha256}"
    )
    restricted = sum(case.restricted for case in done.cases)
    if restricted:
        click.echo(
            f"note: the export includes {restricted} restricted (child-safety) case(s); check with "
            "the child-safety team before handing it over (disclosure may be restricted by law)."
        )
