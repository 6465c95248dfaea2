"""What a database owner can do to the trail, for the tests that must catch it.

The append-only triggers stop the application, not the owner: on PostgreSQL replica mode skips
them (and the foreign-key triggers) for one transaction; on SQLite the triggers are dropped and
re-created around the edit. Either way the edit commits, and only verification can notice.
The forging helpers recompute what an attacker with the code (but not the signing key, unless
stated) would recompute, so each test shows which check is the one that still catches.
"""

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Executable
from sqlmodel import Session, select

from cases.core.sqltypes import utcnow
from cases.trail import merkle
from cases.trail.canonical import canonical
from cases.trail.events import entry_hash, leaf_data
from cases.trail.models import Checkpoint, LogHead, LogLeaf, LogNode
from cases.trail.signed_notes import Signer, sign_checkpoint

TRAIL_TABLES = ("case_event", "event_payload", "log_leaf", "log_node", "checkpoint", "blob")

Statement = str | Executable | tuple[str | Executable, Any]


def tamper(session: Session, *statements: Statement) -> None:
    """Run `statements` in one committed transaction with the append-only triggers off."""
    session.commit()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # LOCAL: the triggers are back for whatever runs after this transaction.
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        _run(connection, statements)
    else:
        names = ", ".join(f"'{table}'" for table in TRAIL_TABLES)
        triggers = connection.exec_driver_sql(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({names})"
        ).all()
        assert triggers, "the migrations created no append-only triggers"
        for name, _ in triggers:
            connection.exec_driver_sql(f"DROP TRIGGER {name}")
        _run(connection, statements)
        for _, create in triggers:
            connection.exec_driver_sql(create)
    session.commit()
    session.expire_all()


def _run(connection: sa.Connection, statements: Iterable[Statement]) -> None:
    for statement in statements:
        sql, params = statement if isinstance(statement, tuple) else (statement, None)
        if isinstance(sql, str):
            sql = sa.text(sql)
        result = connection.execute(sql, params) if params is not None else connection.execute(sql)
        # An edit that touches nothing would make a tamper test pass vacuously.
        if result.rowcount is not None and result.rowcount >= 0:
            assert result.rowcount > 0, f"tampering changed nothing: {sql}"


# --- forging -----------------------------------------------------------------------------------


def resealed(header: str, **changes: Any) -> tuple[str, str]:
    """An edited header in canonical form and its recomputed entry hash (hex)."""
    text = canonical(json.loads(header) | changes)
    return text.decode(), entry_hash(text).hex()


def stored_leaves(session: Session) -> list[bytes]:
    return list(session.exec(select(LogLeaf.data).order_by(LogLeaf.index)))


def rewrite_log(leaves: Sequence[bytes]) -> list[Statement]:
    """Replace the whole log (leaves, stored subtrees, head) by one built from `leaves`."""
    border: list[bytes] = []
    nodes = []
    for index, data in enumerate(leaves):
        border, created = merkle.append_leaf(border, index, merkle.leaf_hash(data))
        nodes += [{"level": lv, "index": i, "hash": h} for lv, i, h in created if lv > 0]
    statements: list[Statement] = [sa.delete(LogNode), sa.delete(LogLeaf)]
    if leaves:
        rows = [{"index": i, "data": data} for i, data in enumerate(leaves)]
        statements.append((sa.insert(LogLeaf), rows))
    if nodes:
        statements.append((sa.insert(LogNode), nodes))
    head = {"size": len(leaves), "border": [h.hex() for h in border]}
    statements.append(sa.update(LogHead).where(LogHead.id == 1).values(**head))
    return statements


def forged_checkpoint(
    signer: Signer, origin: str, leaves: Sequence[bytes], size: int | None = None
) -> Statement:
    """A checkpoint row over `leaves` (or their first `size`), signed by `signer`."""
    size = len(leaves) if size is None else size
    root = merkle.root([merkle.leaf_hash(data) for data in leaves[:size]])
    note = sign_checkpoint(signer, origin=origin, size=size, root=root)
    return sa.insert(Checkpoint).values(size=size, root=root.hex(), note=note, signed_at=utcnow())


def relinked_leaf(case_ref: str, entry_hash_hex: str) -> bytes:
    return leaf_data(case_ref, bytes.fromhex(entry_hash_hex))


# --- bundles -----------------------------------------------------------------------------------


def refresh_manifest(folder: Path) -> None:
    """Re-hash every file into manifest.json, as a forger would: the manifest is not signed."""
    manifest = json.loads((folder / "manifest.json").read_bytes())
    manifest["files"] = {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "manifest.json"
    }
    (folder / "manifest.json").write_bytes(canonical(manifest))


def edit_event_lines(folder: Path, edit: Callable[[list[dict]], None]) -> None:
    """Edit events.jsonl as parsed lines, then refresh the manifest."""
    path = folder / "events.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    edit(lines)
    path.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines))
    refresh_manifest(folder)
