"""`flask --app app hashes import FILE --name NAME`: add an operator's hash list (one SHA-256 or MD5
per line) to the known hashes that route reports to child safety. All or nothing: a list with a
line that is not a hash imports nothing."""

from pathlib import Path

import click
from flask.cli import AppGroup

from cases.child_safety.known_hashes import HashListInvalid, import_hash_list, text_lines
from cases.core.db import session_scope

hashes_cli = AppGroup("hashes", help="Known hashes of child sexual abuse material.")


@hashes_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The list's name, e.g. its provider and date.")
def import_list(file: Path, name: str) -> None:
    """Import a hash list: one SHA-256 or MD5 hex digest per line (`#` comments allowed)."""
    with session_scope() as session, file.open("rb") as stream:
        try:
            result = import_hash_list(session, name=name, lines=text_lines(stream))
        except HashListInvalid as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
    click.echo(
        f"list {name.strip()}: {result.hashes} hashes, {result.added} new, "
        f"{result.already_known} already known"
    )
