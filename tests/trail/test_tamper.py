"""The tamper list of DESIGN section 4, done to a real database: each edit is caught by
`verify_trail` with its own message, and again by the offline verifier in a bundle exported
afterwards (or the export refuses, or only the auditor's earlier checkpoint can tell).
Erasing payloads, the one sanctioned change, must still pass both."""

import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from cases.enums import EventType
from cases.trail import export
from cases.trail.canonical import canonical
from cases.trail.erasure import erase_payload
from cases.trail.events import TrailError, new_salt, payload_commitment
from cases.trail.models import Blob, CaseEvent, Checkpoint, EventPayload, LogLeaf
from cases.trail.signed_notes import (
    CheckpointError,
    Signer,
    generate_signer_key,
    open_checkpoint,
    sign_checkpoint,
)
from cases.trail.store import append_event
from cases.trail.verify import VerificationError, verify_bundle
from tests.trail.conftest import IN_TASKS, ORIGIN, Scene, commit_pending
from tests.trail.tampering import (
    edit_event_lines,
    forged_checkpoint,
    refresh_manifest,
    relinked_leaf,
    resealed,
    rewrite_log,
    stored_leaves,
    tamper,
)

# --- the edits ----------------------------------------------------------------------------------


def edited_payload(session: Session, scene: Scene) -> None:
    event = scene.event(session, "A", 2)
    forged = canonical({"text": "A note 2", "reporter": "someone-else@example.org"}).decode()
    tamper(
        session,
        sa.update(EventPayload).where(EventPayload.event_id == event.id).values(payload=forged),
    )


def edited_header(*, rehash: bool = True, leaf: bool = False, tree: bool = False) -> Callable:
    """A2's actor changed; then as much recomputed as the attacker cares to (never re-signed)."""

    def edit(session: Session, scene: Scene) -> None:
        event = scene.event(session, "A", 2)
        header, entry = resealed(event.header, actor="user:9")
        values = {"header": header, "actor": "user:9"} | ({"entry_hash": entry} if rehash else {})
        statements = [sa.update(CaseEvent).where(CaseEvent.id == event.id).values(**values)]
        leaves = stored_leaves(session)
        leaves[event.log_index] = relinked_leaf(scene.a.reference, entry)
        if tree:
            statements += rewrite_log(leaves)
        elif leaf:
            row = sa.update(LogLeaf).where(LogLeaf.index == event.log_index)
            statements.append(row.values(data=leaves[event.log_index]))
        tamper(session, *statements)

    return edit


def deleted_event(name: str, seq: int, *, leaf: bool = False, truncate: bool = False):
    """The event and its payload deleted; its leaf too, or the log cut back to before it."""

    def edit(session: Session, scene: Scene) -> None:
        event = scene.event(session, name, seq)
        statements = [
            sa.delete(EventPayload).where(EventPayload.event_id == event.id),
            sa.delete(CaseEvent).where(CaseEvent.id == event.id),
        ]
        if truncate:
            statements += rewrite_log(stored_leaves(session)[: event.log_index])
        elif leaf:
            statements.append(sa.delete(LogLeaf).where(LogLeaf.index == event.log_index))
        tamper(session, *statements)

    return edit


def reordered(session: Session, scene: Scene) -> None:
    second, third = scene.event(session, "A", 2), scene.event(session, "A", 3)
    tamper(
        session,
        # Through a free value: UNIQUE(case_id, seq) holds after each statement.
        sa.update(CaseEvent).where(CaseEvent.id == second.id).values(seq=-2),
        sa.update(CaseEvent).where(CaseEvent.id == third.id).values(seq=2),
        sa.update(CaseEvent).where(CaseEvent.id == second.id).values(seq=3),
    )


def swapped_blob_bytes(session: Session, scene: Scene) -> None:
    paths = [
        scene.store.path(scene.blobs[n], restricted=False) for n in ("screenshot", "transcript")
    ]
    contents = [path.read_bytes() for path in paths]
    for path, content in zip(paths, reversed(contents), strict=True):
        os.chmod(path, 0o644)  # the store made it read-only; the owner can undo that
        path.write_bytes(content)


def swapped_blob_references(*, rehash: bool) -> Callable:
    """A2 and A3 swap the blobs they name (the headers edited, entry hashes recomputed)."""

    def edit(session: Session, scene: Scene) -> None:
        statements = []
        for seq, blob in ((2, "transcript"), (3, "screenshot")):
            event = scene.event(session, "A", seq)
            header, entry = resealed(event.header, blobs=[scene.blobs[blob]])
            values = {"header": header} | ({"entry_hash": entry} if rehash else {})
            statements.append(sa.update(CaseEvent).where(CaseEvent.id == event.id).values(**values))
        tamper(session, *statements)

    return edit


def swapped_blob_rows(*columns: str) -> Callable:
    """Two blob rows exchange `columns` (what NCMEC is told, or which area holds the file)."""

    def edit(session: Session, scene: Scene) -> None:
        one, two = (session.get(Blob, scene.blobs[n]) for n in ("screenshot", "media"))
        values = [{c: getattr(row, c) for c in columns} for row in (two, one)]
        tamper(
            session,
            *(
                sa.update(Blob).where(Blob.sha256 == row.sha256).values(**new)
                for row, new in zip((one, two), values, strict=True)
            ),
        )

    return edit


def signed_by_another_key(session: Session, scene: Scene) -> None:
    other = Signer.from_key(generate_signer_key(ORIGIN))
    tamper(session, forged_checkpoint(other, ORIGIN, stored_leaves(session)))


def truncated_and_resigned(session: Session, scene: Scene) -> None:
    """The last round (A4, B4, C4) removed and the shorter log signed with the real key."""
    last = [scene.event(session, name, 4).id for name in "ABC"]
    leaves = stored_leaves(session)[:9]
    tamper(
        session,
        sa.delete(EventPayload).where(EventPayload.event_id.in_(last)),
        sa.delete(CaseEvent).where(CaseEvent.id.in_(last)),
        *rewrite_log(leaves),
        forged_checkpoint(scene.signer, ORIGIN, leaves),
    )


def rewritten_history(*, keep_checkpoints: bool) -> Callable:
    """A2's payload replaced and everything after it recomputed: A's chain from A2, the leaves,
    the tree, the head; then signed with the real key. Internally the result is flawless."""

    def edit(session: Session, scene: Scene) -> None:
        events = [scene.event(session, "A", seq) for seq in (2, 3, 4)]
        payload = canonical({"text": "nothing to see", "reporter": "reporter-A@example.org"})
        salt = new_salt()
        statements = [
            sa.update(EventPayload)
            .where(EventPayload.event_id == events[0].id)
            .values(payload=payload.decode(), salt=salt.hex())
        ]
        leaves = stored_leaves(session)
        prev = events[0].prev_hash
        for event in events:
            changes = {"prev": prev}
            if event is events[0]:
                changes["payload_commit"] = payload_commitment(salt, payload).hex()
            header, entry = resealed(event.header, **changes)
            statements.append(
                sa.update(CaseEvent)
                .where(CaseEvent.id == event.id)
                .values(header=header, entry_hash=entry, prev_hash=prev)
            )
            leaves[event.log_index] = relinked_leaf(scene.a.reference, entry)
            prev = entry
        statements += rewrite_log(leaves)
        if not keep_checkpoints:
            statements.append(sa.delete(Checkpoint))
        statements.append(forged_checkpoint(scene.signer, ORIGIN, leaves))
        tamper(session, *statements)

    return edit


# --- what catches each edit -----------------------------------------------------------------


@dataclass(frozen=True)
class Tamper:
    edit: Callable[[Session, Scene], None]
    db: str | None  # verify_trail's message (regex); None: the database alone cannot tell
    bundle: str | None = None  # the offline verifier's message on a bundle exported afterwards
    export: str | None = None  # ...or the export refuses, with this message
    previous: str | None = None  # ...or the bundle passes, but not against the auditor's copy
    # verify_trail's message when a pending event follows each chain and the edit leaves it
    # alone (its prev still names the event as it was); None: the same as `db`.
    db_before_pending: str | None = None


ROOT_CHANGED = (
    "the log's root at size 6 does not match signed checkpoint {C1}: "
    "leaves were changed, removed or reordered"
)
# {A} stands for case A's reference, {screenshot} etc. for blob names.
TAMPERS = {
    "edited payload": Tamper(
        edited_payload,
        db="case {A} event 2: payload does not match its commitment",
        bundle="case {A} event 2: payload does not match its commitment",
    ),
    "edited header": Tamper(
        edited_header(rehash=False),
        db="case {A} event 2: entry hash does not match its header",
        bundle="case {A} event 2: entry hash does not match its header",
    ),
    "edited header re-hashed": Tamper(
        edited_header(),
        db="case {A} event 2: not the leaf at log index 3",
        bundle="case {A} event 3: stored prev hash does not link to the previous event",
    ),
    "edited header re-hashed, leaf recomputed": Tamper(
        edited_header(leaf=True),
        db=r"stored subtree \(1, 1\) does not match the leaves below it",
        bundle="log/leaves.bin does not hash to the checkpoint's root",
    ),
    "edited header re-hashed, leaf, tree and head recomputed": Tamper(
        edited_header(tree=True),
        db=ROOT_CHANGED,
        export=r"the log no longer matches checkpoint {C2} \(size 12\): its history was rewritten",
    ),
    "deleted middle event": Tamper(
        deleted_event("A", 2),
        db="case {A} event 2: expected seq 2, found 3",
        bundle="case {A} event 2: expected seq 2, found 3",
    ),
    "deleted middle event and its leaf": Tamper(
        deleted_event("A", 2, leaf=True),
        db=r"log leaf 3 is missing \(next stored leaf is 4\)",
        bundle="log/leaves.bin holds 768 bytes, not 64 for each of the 13 log entries",
    ),
    "deleted last event": Tamper(
        deleted_event("A", 4),
        db="log leaf 9 has no event: an event was deleted",
        bundle="incomplete: log entry 9 belongs to case {A} but no event in the bundle matches it",
        db_before_pending="case {A} event 4: expected seq 4, found 5",
    ),
    "deleted last event of the log and its leaf": Tamper(
        deleted_event("C", 4, leaf=True),
        db="the log stores subtree hashes beyond its leaves",
        bundle="log/leaves.bin holds 768 bytes, not 64 for each of the 13 log entries",
    ),
    "deleted last event of the log, log cut back": Tamper(
        deleted_event("C", 4, truncate=True),
        db="checkpoint {C2} covers 12 leaves but the log has 11: the log was truncated",
        export="the log no longer matches checkpoint {C2} .*: its history was rewritten",
    ),
    "reordered events": Tamper(
        reordered,
        db="case {A} event 2: stored prev hash does not link to the previous event",
        bundle="case {A} event 2: stored prev hash does not link to the previous event",
    ),
    "swapped blob bytes": Tamper(
        swapped_blob_bytes,
        db="blob {first}: its bytes do not match its hash",
        bundle="blobs/{first}: content does not match its name",
    ),
    "swapped blob references": Tamper(
        swapped_blob_references(rehash=False),
        db="case {A} event 2: entry hash does not match its header",
        bundle="case {A} event 2: entry hash does not match its header",
    ),
    "swapped blob references re-hashed": Tamper(
        swapped_blob_references(rehash=True),
        db="case {A} event 2: not the leaf at log index 3",
        bundle="case {A} event 3: stored prev hash does not link to the previous event",
    ),
    "swapped blob rows' MD5, SHA-1 and size": Tamper(
        swapped_blob_rows("md5", "sha1", "size"),
        db="blob {first_row}: its recorded MD5, SHA-1 or size differs from its bytes",
    ),
    "swapped blob rows' restricted flags": Tamper(
        swapped_blob_rows("restricted"),
        db="blob {first_row} is missing from the store",
    ),
    "checkpoint signed by another key": Tamper(
        signed_by_another_key,
        db="checkpoint signature: checkpoint is not signed by the pinned key",
        export="checkpoint is not signed by the pinned key",
    ),
    "truncated log with a re-signed checkpoint": Tamper(
        truncated_and_resigned,
        db="checkpoint {C2} covers 12 leaves but the log has 9: the log was truncated",
        previous=r"rollback: the bundle's checkpoint \(size 10\) is older than your previous "
        r"checkpoint \(size 12\)",
    ),
    "history rewritten and re-signed, old checkpoints kept": Tamper(
        rewritten_history(keep_checkpoints=True),
        db=ROOT_CHANGED,
        bundle="consistency/6-13.json: split view or rewritten history: consistency proof does not "
        "lead to the root at size 6",
    ),
    "history rewritten and re-signed, old checkpoints deleted": Tamper(
        rewritten_history(keep_checkpoints=False),
        db=None,  # nothing inside the database is left to compare with: see DESIGN section 4
        db_before_pending="case {A} event 5: stored prev hash does not link to the previous event",
        previous=r"split view or rewritten history: the log in the bundle \(size 13\) does not "
        r"extend your previous checkpoint \(size 12\)",
    ),
}


def expected(pattern: str, scene: Scene) -> str:
    names = {
        "A": scene.a.reference,
        "C1": scene.checkpoints[0].id,
        "C2": scene.checkpoints[1].id,
        "first": min(scene.blobs["screenshot"], scene.blobs["transcript"]),  # checked in order
        "first_row": min(scene.blobs["screenshot"], scene.blobs["media"]),
        **scene.blobs,
    }
    return pattern.format(**{k: re.escape(str(v)) for k, v in names.items()})


def verify(bundle: Path, scene: Scene, previous: str | None = None):
    key = scene.signer.verifier_key
    return verify_bundle(bundle, verifier_key=key, previous_checkpoint=previous)


@pytest.fixture
def held_by_auditor(scene) -> str:
    """The newest checkpoint (size 12), as an auditor fetched it before any tampering."""
    return scene.checkpoints[-1].note


@pytest.mark.parametrize("pending", [0, 1], ids=["all integrated", "with pending events"])
@pytest.mark.parametrize("case", TAMPERS.values(), ids=TAMPERS.keys())
def test_trail_verify_catches(scene, session, case: Tamper, passes, pending):
    # Pending events (a fifth of each case, appended and not yet integrated) change nothing
    # that catches an edit; tests/trail/test_integration.py edits pending events themselves.
    for name in "ABC"[: 3 * pending]:
        append_event(session, case=scene.cases[name], type=EventType.note, actor="user:1")
    commit_pending(session)
    report = scene.verify(session)  # genuine before the edit
    assert (report.events, report.pending) == (12 + 3 * pending, 3 * pending)
    assert report.processes == (6 if passes == IN_TASKS else 1)
    case.edit(session, scene)
    message = (pending and case.db_before_pending) or case.db
    if message is None:
        # The documented limit: a thorough owner leaves nothing inside the database to compare
        # with; the checkpoint held outside it is what catches this (the bundle test below).
        assert scene.verify(session).events == 12
        return
    with pytest.raises(TrailError, match=f"^{expected(message, scene)}$"):
        scene.verify(session)


# Blob rows are not exported (a bundle carries the blobs' bytes; anyone can hash them).
EXPORTED = {name: t for name, t in TAMPERS.items() if t.bundle or t.export or t.previous}


@pytest.mark.parametrize("case", EXPORTED.values(), ids=EXPORTED.keys())
def test_exported_bundle_catches(scene, session, held_by_auditor, case, tmp_path, monkeypatch):
    case.edit(session, scene)
    out = tmp_path / "bundle"
    if case.export:
        with pytest.raises((TrailError, CheckpointError), match=expected(case.export, scene)):
            scene.export(session, out)
        assert not out.exists()
        return
    if case.bundle:
        message = expected(case.bundle, scene)
        # The export verifies its own bundle and refuses to hand it out...
        refused = f"^the exported bundle does not verify, so it was deleted: {message}$"
        with pytest.raises(TrailError, match=refused):
            scene.export(session, out)
        session.rollback()
        assert not out.exists()
        # ...and a server that skipped that check still cannot get it past an auditor.
        monkeypatch.setattr(export, "verify_bundle", lambda *args, **kwargs: None)
        with pytest.raises(VerificationError, match=f"^{message}$"):
            verify(scene.export(session, out), scene)
        return
    # Self-consistent (the forger re-signed with the real key): only held history can tell.
    bundle = scene.export(session, out)
    assert verify(bundle, scene).case == scene.a.reference
    with pytest.raises(VerificationError, match=f"^{expected(case.previous, scene)}$"):
        verify(bundle, scene, previous=held_by_auditor)


# --- the sanctioned change, and a genuine export --------------------------------------------------


def test_genuine_export_passes_against_the_auditors_checkpoint(
    scene, session, held_by_auditor, tmp_path
):
    bundle = scene.export(session, tmp_path / "bundle")
    result = verify(bundle, scene, previous=held_by_auditor)
    assert (result.case, result.size, result.events, result.blobs) == (scene.a.reference, 13, 5, 2)
    assert (result.previous, result.earlier) == (12, (6, 12))
    assert scene.verify(session).events == 13


def test_erasure_still_passes(scene, session, held_by_auditor, tmp_path):
    erase_payload(session, case=scene.a, actor="operator:dpo", reason="erasure request 4411")
    session.commit()
    report = scene.verify(session)
    assert (report.cases, report.events, report.erased) == (3, 13, 4)
    result = verify(scene.export(session, tmp_path / "erased"), scene, previous=held_by_auditor)
    assert (result.events, result.erased) == (6, 4)


# --- edits to an exported bundle ------------------------------------------------------------------


def _append_space(name: str):
    def edit(folder: Path, scene: Scene) -> None:
        with (folder / name).open("ab") as f:
            f.write(b" ")

    return edit


def _rehashed(edit):
    def rehashed(folder: Path, scene: Scene) -> None:
        edit(folder, scene)
        refresh_manifest(folder)

    return rehashed


def _events(edit):
    return lambda folder, scene: edit_event_lines(folder, edit)


def _other_checkpoint(folder: Path, scene: Scene) -> None:
    opened = open_checkpoint((folder / "checkpoint.txt").read_text(), scene.signer.verifier_key)
    other = Signer.from_key(generate_signer_key(ORIGIN))
    note = sign_checkpoint(other, origin=ORIGIN, size=opened.size, root=opened.root)
    (folder / "checkpoint.txt").write_text(note)


def _flip_leaf_byte(folder: Path, scene: Scene) -> None:
    leaves = bytearray((folder / "log/leaves.bin").read_bytes())
    leaves[3 * 64 + 40] ^= 1  # inside A2's entry hash
    (folder / "log/leaves.bin").write_bytes(bytes(leaves))


def _blob(name: str) -> Callable[[Path, Scene], Path]:
    return lambda folder, scene: folder / "blobs" / scene.blobs[name]


BUNDLE_EDITS = {
    "events.jsonl edited": (
        _append_space("events.jsonl"),
        "events.jsonl does not match its SHA-256 in manifest.json",
    ),
    "file added": (
        lambda folder, scene: (folder / "notes.txt").write_text("added later"),
        "notes.txt is not listed in manifest.json",
    ),
    "payload edited, manifest re-hashed": (
        _events(lambda lines: lines[0].update(payload='{"text":"edited"}')),
        "case {A} event 1: payload does not match its commitment",
    ),
    "an event made pending, manifest re-hashed": (
        _events(lambda lines: lines[-1].update(log_index=None, inclusion_proof=[])),
        "events.jsonl line 5: the event is pending, with no log index: a bundle holds only events "
        "integrated into its checkpoint's log",
    ),
    "last event dropped, manifest re-hashed": (
        _events(lambda lines: lines.pop()),
        "incomplete: log entry 12 belongs to case {A} but no event in the bundle matches it",
    ),
    "leaf edited, manifest re-hashed": (
        _rehashed(_flip_leaf_byte),
        "log/leaves.bin does not hash to the checkpoint's root",
    ),
    "checkpoint re-signed by another key, manifest re-hashed": (
        _rehashed(_other_checkpoint),
        "checkpoint.txt: checkpoint is not signed by the pinned key",
    ),
    "earlier checkpoint removed, manifest re-hashed": (
        _rehashed(lambda folder, scene: (folder / "checkpoints/6.txt").unlink()),
        "earlier checkpoint 6 lacks its note or its proof",
    ),
    "blob bytes replaced, manifest re-hashed": (
        _rehashed(lambda folder, scene: _blob("transcript")(folder, scene).write_bytes(b"x")),
        "blobs/{transcript}: content does not match its name",
    ),
    "blob removed, manifest re-hashed": (
        _rehashed(lambda folder, scene: _blob("transcript")(folder, scene).unlink()),
        "blobs/{transcript}, named by an event, is missing",
    ),
}


@pytest.mark.parametrize(("edit", "message"), BUNDLE_EDITS.values(), ids=BUNDLE_EDITS.keys())
def test_bundle_file_edits(scene, session, tmp_path, edit, message):
    bundle = scene.export(session, tmp_path / "bundle")
    assert verify(bundle, scene).events == 5
    edit(bundle, scene)
    with pytest.raises(VerificationError, match=f"^{expected(message, scene)}$"):
        verify(bundle, scene)


def test_zip_bundle_entry_edited(scene, session, tmp_path):
    bundle = scene.export(session, tmp_path / "bundle.zip")
    assert verify(bundle, scene).events == 5
    edited = tmp_path / "edited.zip"
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(edited, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info, data + b" " if info.filename == "events.jsonl" else data)
    with pytest.raises(VerificationError, match="^events.jsonl does not match its SHA-256"):
        verify(edited, scene)
