"""Signing checkpoints of the log, and the signing key's life (no Flask).

Before signing, pending events are integrated (a checkpoint covers everything committed), and the
log is checked against the newest stored checkpoint: a log that no longer
contains what was signed before (truncated, rewritten) is never signed again.
"""

import os
from pathlib import Path

from sqlmodel import Session, select

from cases.trail.events import TrailError
from cases.trail.models import Checkpoint
from cases.trail.signed_notes import Signer, generate_signer_key, open_checkpoint, sign_checkpoint
from cases.trail.store import current_root, integrate_log, root_at


def load_signer(*, key_text: str | None, key_path: Path, name: str) -> Signer:
    """The configured signer key, or the one in `key_path`, generated there on first use."""
    if key_text:
        return Signer.from_key(key_text)
    if not key_path.exists():
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_signer_key(name) + "\n")
    return Signer.from_key(key_path.read_text())


def latest_checkpoint(session: Session) -> Checkpoint | None:
    """The most recently signed checkpoint."""
    return session.exec(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)).first()


def sign_log_checkpoint(session: Session, *, signer: Signer, origin: str) -> Checkpoint:
    """Integrate what is pending and sign the log, after checking it still extends the newest
    checkpoint."""
    integrate_log(session)
    size, root = current_root(session)
    previous = latest_checkpoint(session)
    if previous is not None:
        if previous.size > size:
            raise TrailError(
                f"the log has {size} leaves but checkpoint {previous.id} was signed at "
                f"{previous.size}: the log was truncated"
            )
        if root_at(session, size=previous.size).hex() != previous.root:
            raise TrailError(
                f"the log no longer matches checkpoint {previous.id} (size {previous.size}): "
                "its history was rewritten"
            )
        if previous.size == size:
            return previous
    note = sign_checkpoint(signer, origin=origin, size=size, root=root)
    checkpoint = Checkpoint(size=size, root=root.hex(), note=note)
    session.add(checkpoint)
    session.flush()
    return checkpoint


def verified_checkpoints(session: Session, *, verifier_key: str) -> list[Checkpoint]:
    """Every stored checkpoint, each signature checked against the pinned key."""
    stored = list(session.exec(select(Checkpoint).order_by(Checkpoint.size, Checkpoint.id)))
    for checkpoint in stored:
        opened = open_checkpoint(checkpoint.note, verifier_key)
        if opened.size != checkpoint.size or opened.root.hex() != checkpoint.root:
            raise TrailError(f"checkpoint {checkpoint.id}: stored size/root differ from its note")
    return stored
