"""Writing evidence bundles (the format and its checks live in cases.trail.verify).

`write_bundle` writes what it is given and judges nothing beyond the shape of its input. Run
`verify_bundle` on the result before handing it out: a damaged trail then fails loudly at
export instead of reaching an auditor, and the writer stays usable for forensic copies.
"""

import hashlib
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import IO, BinaryIO

from cases.trail.canonical import canonical, parse_utc_timestamp
from cases.trail.events import EventRecord
from cases.trail.signed_notes import open_checkpoint
from cases.trail.verify import (
    CHECKPOINT,
    EVENTS,
    FORMAT,
    LEAF_SIZE,
    LEAVES,
    MANIFEST,
    PUBLIC_KEY,
    README,
    WITHHELD,
    consistency_document,
    event_line,
    withheld_document,
)

__all__ = ["write_bundle"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20
_LEAVES_PER_WRITE = 4096
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so equal content gives an equal zip

_README = """\
Docket evidence bundle ({format})
Case {case}, exported {created_at}, log checkpoint at size {size}.

Layout
  manifest.json                 SHA-256 of every other file in this bundle
  checkpoint.txt                the log's signed checkpoint (C2SP tlog-checkpoint, Ed25519)
  public-key.txt                the log's verifier key, for information only
  log/leaves.bin                every log entry 0..size-1, 64 bytes each:
                                SHA-256("docket/case/v1\\n" || case ref) || event entry hash
  events.jsonl                  the case's events in order: exact header and payload text
                                (payload null once erased), hashes, log index, inclusion proof
  blobs/<sha256>                the evidence files the events name{withheld}
  checkpoints/<size>.txt        earlier signed checkpoints, each with its
  consistency/<size>-<to>.json  RFC 9162 consistency proof to checkpoint.txt

Verify (Python 3.11+, packages cryptography and rfc8785, and Docket's cases/trail/ folder):

  python -m cases.trail.verify BUNDLE --public-key KEYFILE [--previous-checkpoint FILE]

KEYFILE is the log's public key, obtained independently of this bundle and kept ("pinned"): a
key shipped beside a bundle vouches only for that bundle. Whoever runs Docket writes it with

  flask --app app trail public-key > KEYFILE

(the audit page shows and offers the same key). Use that copy, not public-key.txt, for every
bundle from this log. Keep this bundle's checkpoint.txt: passed to a later verification as
--previous-checkpoint, it shows that the log only grew since (no rollback, no rewritten
history). The verifier prints what it checked and PASS, or FAIL and the first problem found,
and exits non-zero on failure.
"""


_README_WITHHELD = """, except
  withheld.json                 the files left out for this bundle's recipient (restricted
                                material they are not cleared for), by SHA-256 with the reason:
                                the events still commit to each, so its holder can check it"""


def write_bundle(
    out: Path,
    *,
    case_ref: str,
    checkpoint_note: str,
    verifier_key: str,
    leaves: Iterable[bytes],
    events: Sequence[tuple[EventRecord, list[bytes]]],
    blobs: Mapping[str, Callable[[], BinaryIO]],
    earlier: Sequence[tuple[str, list[bytes]]] = (),
    withheld: Mapping[str, str] = {},
    created_at: str,
) -> Path:
    """Write a bundle to `out`: a new folder, or a zip if `out` ends in .zip.

    `leaves` are the 64-byte leaf data of log entries 0..size-1, `events` the case's records in
    seq order with their inclusion proofs at the checkpoint's size, `blobs` the files the events
    name by SHA-256, each a function opening its bytes (but those `withheld` names, each with the
    reason it is left out), `earlier`
    (checkpoint note, consistency proof to this checkpoint) pairs. The notes must be signed by
    `verifier_key`.
    """
    out = Path(out)
    parse_utc_timestamp(created_at)
    checkpoint = open_checkpoint(checkpoint_note, verifier_key)
    older = [(open_checkpoint(note, verifier_key), note, proof) for note, proof in earlier]
    sink = _ZipSink(out) if out.suffix == ".zip" else _FolderSink(out)
    try:
        files: dict[str, str] = {}

        def put(name: str, chunks: Iterable[bytes]) -> None:
            files[name] = sink.write(name, chunks)

        put(CHECKPOINT, [checkpoint_note.encode("utf-8")])
        put(PUBLIC_KEY, [verifier_key.strip().encode("utf-8") + b"\n"])
        put(LEAVES, _leaf_chunks(leaves))
        put(EVENTS, (event_line(record, proof) for record, proof in events))
        for sha, source in sorted(blobs.items()):
            if not _HEX64.fullmatch(sha) or sha in withheld:
                raise ValueError(f"blob name {sha!r} is not a SHA-256 hex digest, or withheld")
            with source() as f:
                put(f"blobs/{sha}", iter(partial(f.read, _CHUNK), b""))
        for old, note, proof in older:
            put(f"checkpoints/{old.size}.txt", [note.encode("utf-8")])
            name = f"consistency/{old.size}-{checkpoint.size}.json"
            put(name, [consistency_document(old, checkpoint, proof)])
        if withheld:
            if bad := [sha for sha in withheld if not _HEX64.fullmatch(sha)]:
                raise ValueError(f"withheld name {bad[0]!r} is not a SHA-256 hex digest")
            put(WITHHELD, [withheld_document(withheld)])
        readme = _README.format(
            format=FORMAT,
            case=case_ref,
            created_at=created_at,
            size=checkpoint.size,
            withheld=_README_WITHHELD if withheld else "",
        )
        put(README, [readme.encode("utf-8")])
        manifest = {
            "format": FORMAT,
            "case": case_ref,
            "created_at": created_at,
            "checkpoint_size": checkpoint.size,
            "files": files,
        }
        sink.write(MANIFEST, [canonical(manifest)])
        sink.close()
    except BaseException:
        sink.discard()
        raise
    return out


def _leaf_chunks(leaves: Iterable[bytes]) -> Iterator[bytes]:
    """Leaves batched into larger writes, each checked for its 64-byte shape."""
    batch: list[bytes] = []
    for leaf in leaves:
        if not isinstance(leaf, bytes) or len(leaf) != LEAF_SIZE:
            raise ValueError(f"log leaf {leaf!r} is not {LEAF_SIZE} bytes")
        batch.append(leaf)
        if len(batch) == _LEAVES_PER_WRITE:
            yield b"".join(batch)
            batch.clear()
    yield b"".join(batch)


class _FolderSink:
    """Files in a new folder."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True)  # never mix with an existing folder's content
        self._root = root

    def write(self, name: str, chunks: Iterable[bytes]) -> str:
        path = self._root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as f:
            return _copy(chunks, f)

    def close(self) -> None:
        """Nothing to finish: every file is complete once written."""

    def discard(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)


class _ZipSink:
    """Files in a new zip."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._zip = zipfile.ZipFile(path, "x", compression=zipfile.ZIP_DEFLATED)

    def write(self, name: str, chunks: Iterable[bytes]) -> str:
        info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        # force_zip64: blobs are streamed, so their size is unknown when the entry starts.
        with self._zip.open(info, "w", force_zip64=True) as f:
            return _copy(chunks, f)

    def close(self) -> None:
        self._zip.close()

    def discard(self) -> None:
        self._zip.close()
        self._path.unlink(missing_ok=True)


def _copy(chunks: Iterable[bytes], target: IO[bytes]) -> str:
    """Write the chunks, returning the SHA-256 hex of what was written."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        target.write(chunk)
    return digest.hexdigest()
