"""Offline verifier for Docket evidence bundles, and the bundle format it reads.

    python -m cases.trail.verify BUNDLE --public-key FILE [--previous-checkpoint FILE]

Needs only the standard library, `cryptography`, `rfc8785` and the pure trail modules, so an
auditor can run it from a copy of cases/trail/ without the application or its database. The
public key must come from the auditor's own pinned copy: the bundle's public-key.txt is a
courtesy and is never trusted.

A bundle (a folder, or a zip of its contents) holds:

    manifest.json                 format, case, created_at, checkpoint_size, and the SHA-256
                                  of every other file
    checkpoint.txt                signed C2SP tlog-checkpoint note over the global log
    public-key.txt                the log's verifier key (informational)
    log/leaves.bin                every log leaf 0..size-1, 64 bytes each (case tag || entry hash)
    events.jsonl                  the case's events in seq order (see `event_line`)
    blobs/<sha256 hex>            every evidence file the event headers name, except
    withheld.json                 (only when some are left out) the files withheld from this
                                  bundle's recipient, each by SHA-256 with the reason
    checkpoints/<size>.txt        earlier signed checkpoints, each with
    consistency/<size>-<to>.json  its consistency proof to checkpoint.txt
    README.txt                    the layout and how to run this verifier

Checks run in a fixed order and the first failure is reported: manifest, checkpoint signature,
log root, the auditor's previous checkpoint, the bundle's earlier checkpoints, the case's hash
chain, each event's log entry and inclusion proof, completeness, blobs. A withheld file is not
checked, only named: the events still commit to its SHA-256, so whoever holds it can check it.
"""

import argparse
import contextlib
import hashlib
import json
import re
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cases.trail.canonical import CanonicalError, canonical, parse_utc_timestamp
from cases.trail.events import EventRecord, TrailError, case_tag, leaf_data, verify_chain
from cases.trail.merkle import ProofError, leaf_hash, root, verify_consistency, verify_inclusion
from cases.trail.signed_notes import (
    Checkpoint,
    CheckpointError,
    KeyFormatError,
    open_checkpoint,
    parse_verifier_key,
)

__all__ = [
    "FORMAT",
    "VerificationError",
    "VerifyResult",
    "consistency_document",
    "event_line",
    "main",
    "verify_bundle",
    "withheld_document",
]

FORMAT = "docket-evidence-bundle/1"
MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint.txt"
PUBLIC_KEY = "public-key.txt"
README = "README.txt"
LEAVES = "log/leaves.bin"
EVENTS = "events.jsonl"
WITHHELD = "withheld.json"
LEAF_SIZE = 64

_HEX64 = re.compile(r"[0-9a-f]{64}")
_NUMBER = r"(0|[1-9][0-9]*)"
_BLOB_FILE = re.compile(r"blobs/([0-9a-f]{64})")
_CHECKPOINT_FILE = re.compile(rf"checkpoints/{_NUMBER}\.txt")
_CONSISTENCY_FILE = re.compile(rf"consistency/{_NUMBER}-{_NUMBER}\.json")
_FIXED_FILES = frozenset((CHECKPOINT, PUBLIC_KEY, README, LEAVES, EVENTS, WITHHELD))
_REQUIRED_FILES = (CHECKPOINT, LEAVES, EVENTS)
_MANIFEST_KEYS = frozenset(("format", "case", "created_at", "checkpoint_size", "files"))
_EVENT_KEYS = frozenset(
    (
        "seq",
        "log_index",
        "header",
        "entry_hash",
        "prev_hash",
        "payload",
        "salt",
        "erased",
        "inclusion_proof",
    )
)


class VerificationError(ValueError):
    """The bundle does not verify; the message is the first failure found."""


@dataclass(frozen=True)
class VerifyResult:
    """What a passing bundle was shown to contain."""

    case: str
    origin: str
    size: int
    root: bytes
    events: int
    erased: int
    blobs: int  # files in the bundle, each checked
    earlier: tuple[int, ...]  # sizes of the bundle's earlier checkpoints, each proven consistent
    previous: int | None  # size of the auditor's previous checkpoint, if one was given
    withheld: tuple[tuple[str, str], ...] = ()  # (SHA-256, reason) of files left out

    def summary(self) -> list[str]:
        """Human-readable lines of what was checked."""
        previous = (
            f"consistent with your previous checkpoint at size {self.previous}"
            if self.previous is not None
            else "no previous checkpoint given (pass --previous-checkpoint to detect rollback)"
        )
        earlier = ", ".join(map(str, self.earlier)) or "none"
        withheld = [
            f"withheld (named by the events, not in this bundle): {sha}: {reason}"
            for sha, reason in self.withheld
        ]
        return [
            f"case {self.case}",
            "manifest: every file present and matching its SHA-256",
            f"checkpoint: {self.origin} size {self.size}, signed by the pinned key",
            f"log: {self.size} leaves hash to root {self.root.hex()}",
            f"history: {previous}",
            f"earlier checkpoints in the bundle proven consistent: {earlier}",
            f"events: {self.events} ({self.erased} erased payloads), chain, commitments, log "
            "entries and inclusion proofs verified; no event of the case is missing",
            f"blobs: {self.blobs}, each matching its SHA-256",
            *withheld,
        ]


# --- the format, as written by cases.trail.bundle -----------------------------------------


def event_line(record: EventRecord, proof: Sequence[bytes]) -> bytes:
    """One events.jsonl line: exact header and payload text, hashes in hex, inclusion proof."""
    line = {
        "seq": record.seq,
        "log_index": record.log_index,
        "header": record.header.decode("utf-8"),
        "entry_hash": record.entry_hash.hex(),
        "prev_hash": record.prev_hash.hex(),
        "payload": None if record.payload is None else record.payload.decode("utf-8"),
        "salt": None if record.salt is None else record.salt.hex(),
        "erased": record.payload is None,
        "inclusion_proof": [h.hex() for h in proof],
    }
    # ASCII-escaped JSON: the exact header text survives the round trip through json.loads.
    return json.dumps(line, separators=(",", ":")).encode("ascii") + b"\n"


def withheld_document(withheld: Mapping[str, str]) -> bytes:
    """withheld.json: the SHA-256 of each file left out of the bundle, and why."""
    return canonical({"withheld": dict(withheld)})


def consistency_document(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> bytes:
    """consistency/<old>-<new>.json: the two trees and the RFC 9162 proof between them."""
    return canonical(
        {
            "from": {"size": old.size, "root": old.root.hex()},
            "to": {"size": new.size, "root": new.root.hex()},
            "proof": [h.hex() for h in proof],
        }
    )


# --- verification ---------------------------------------------------------------------------


def verify_bundle(
    path: Path, *, verifier_key: str, previous_checkpoint: str | None = None
) -> VerifyResult:
    """Verify the bundle at `path` (folder or .zip) against the pinned `verifier_key`.

    Raises VerificationError with the first failure, or KeyFormatError if `verifier_key` itself
    is malformed (the caller's mistake, not the bundle's).
    """
    parse_verifier_key(verifier_key)
    try:
        with _open_bundle(Path(path)) as bundle:
            return _verify(bundle, verifier_key, previous_checkpoint)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:  # unreadable, not forged
        raise VerificationError(f"cannot read {path}: {exc}") from None


def _verify(bundle: "_Bundle", verifier_key: str, previous_checkpoint: str | None) -> VerifyResult:
    manifest = _check_manifest(bundle)
    case = manifest.case
    checkpoint = _open_note(bundle.read(CHECKPOINT), verifier_key, CHECKPOINT)
    leaves, leaf_hashes = _check_log(bundle, checkpoint, manifest.checkpoint_size)
    previous = _check_previous(previous_checkpoint, verifier_key, checkpoint, leaf_hashes)
    earlier = _check_earlier(bundle, checkpoint, verifier_key)
    events = _read_events(bundle.read(EVENTS))
    try:
        chain = verify_chain(case, (record for record, _ in events))
    except TrailError as exc:
        raise VerificationError(str(exc)) from None
    _check_log_entries(case, events, leaves, leaf_hashes, checkpoint)
    _check_completeness(case, events, leaves)
    withheld = _read_withheld(bundle)
    _check_blobs(bundle.names, manifest.digests, chain.blobs, withheld)
    return VerifyResult(
        case=case,
        origin=checkpoint.origin,
        size=checkpoint.size,
        root=checkpoint.root,
        events=chain.count,
        erased=chain.erased,
        blobs=len(chain.blobs) - len(withheld),
        earlier=earlier,
        previous=previous,
        withheld=tuple(sorted(withheld.items())),
    )


@dataclass(frozen=True)
class _Manifest:
    case: str
    checkpoint_size: int
    digests: dict[str, str]  # SHA-256 hex of every file but the manifest, as computed here


class _Bundle:
    """Read access to a bundle's files, from a folder or a zip."""

    def __init__(self, names: frozenset[str], opener: Callable[[str], IO[bytes]]) -> None:
        self.names = names
        self._opener = opener

    def open(self, name: str) -> IO[bytes]:
        return self._opener(name)

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()


@contextlib.contextmanager
def _open_bundle(path: Path) -> Iterator[_Bundle]:
    if path.is_dir():
        yield _Bundle(_folder_names(path), lambda name: (path / name).open("rb"))
        return
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise VerificationError(f"{path} is neither a bundle folder nor a zip: {exc}") from None
    with archive:
        yield _Bundle(_zip_names(archive), archive.open)


def _folder_names(folder: Path) -> frozenset[str]:
    names = set()
    for item in folder.rglob("*"):
        name = item.relative_to(folder).as_posix()
        # A link could smuggle in content from outside the bundle.
        if item.is_symlink() or not (item.is_file() or item.is_dir()):
            raise VerificationError(f"{name} is not a regular file")
        if item.is_file():
            names.add(name)
    return frozenset(names)


def _zip_names(archive: zipfile.ZipFile) -> frozenset[str]:
    names: set[str] = set()
    for info in archive.infolist():
        name = info.filename
        if info.is_dir():
            continue
        if name in names:
            raise VerificationError(f"{name} appears twice in the zip")
        names.add(name)
    return frozenset(names)


def _check_manifest(bundle: _Bundle) -> _Manifest:
    """The manifest, once it is shown to list exactly the bundle's files with their SHA-256."""
    if MANIFEST not in bundle.names:
        raise VerificationError(f"{MANIFEST} is missing")
    manifest = _json_object(bundle.read(MANIFEST), MANIFEST)
    if manifest.keys() != _MANIFEST_KEYS or manifest["format"] != FORMAT:
        raise VerificationError(f"{MANIFEST} is not a {FORMAT} manifest")
    case, size, files = manifest["case"], manifest["checkpoint_size"], manifest["files"]
    if not isinstance(case, str) or not case or not _is_count(size) or not isinstance(files, dict):
        raise VerificationError(f"{MANIFEST}: bad case, checkpoint_size or files")
    _manifest_timestamp(manifest["created_at"])
    present = bundle.names - {MANIFEST}
    missing, unlisted = sorted(files.keys() - present), sorted(present - files.keys())
    if missing:
        raise VerificationError(f"{MANIFEST} lists {missing[0]}, which the bundle lacks")
    if unlisted:
        raise VerificationError(f"{unlisted[0]} is not listed in {MANIFEST}")
    digests = {}
    for name in sorted(present):
        _check_layout(name)
        with bundle.open(name) as f:
            digests[name] = hashlib.file_digest(f, "sha256").hexdigest()
        if digests[name] != files[name]:
            raise VerificationError(f"{name} does not match its SHA-256 in {MANIFEST}")
    for name in _REQUIRED_FILES:
        if name not in present:
            raise VerificationError(f"the bundle has no {name}")
    return _Manifest(case=case, checkpoint_size=size, digests=digests)


def _manifest_timestamp(value: Any) -> None:
    try:
        parse_utc_timestamp(value)
    except CanonicalError as exc:
        raise VerificationError(f"{MANIFEST}: created_at: {exc}") from None


def _check_layout(name: str) -> None:
    known = (
        name in _FIXED_FILES
        or _BLOB_FILE.fullmatch(name)
        or _CHECKPOINT_FILE.fullmatch(name)
        or _CONSISTENCY_FILE.fullmatch(name)
    )
    if not known:
        raise VerificationError(f"unexpected file {name} in the bundle")


def _open_note(data: bytes, verifier_key: str, where: str) -> Checkpoint:
    try:
        return open_checkpoint(data.decode("utf-8"), verifier_key)
    except UnicodeDecodeError:
        raise VerificationError(f"{where}: not UTF-8") from None
    except CheckpointError as exc:
        raise VerificationError(f"{where}: {exc}") from None


def _check_log(
    bundle: _Bundle, checkpoint: Checkpoint, manifest_size: int
) -> tuple[bytes, list[bytes]]:
    """The leaves, and their hashes, once they are shown to make the signed root."""
    if manifest_size != checkpoint.size:
        raise VerificationError(
            f"{MANIFEST} says checkpoint size {manifest_size}, {CHECKPOINT} {checkpoint.size}"
        )
    leaves = bundle.read(LEAVES)
    if len(leaves) != checkpoint.size * LEAF_SIZE:
        raise VerificationError(
            f"{LEAVES} holds {len(leaves)} bytes, not {LEAF_SIZE} for each of the "
            f"{checkpoint.size} log entries"
        )
    hashes = [leaf_hash(leaves[i : i + LEAF_SIZE]) for i in range(0, len(leaves), LEAF_SIZE)]
    if root(hashes) != checkpoint.root:
        raise VerificationError(f"{LEAVES} does not hash to the checkpoint's root")
    return leaves, hashes


def _check_previous(
    note: str | None, verifier_key: str, current: Checkpoint, leaf_hashes: list[bytes]
) -> int | None:
    """The auditor's earlier checkpoint must be a prefix of the bundle's log.

    The leaves are already bound to the signed root, so the root of their first `size`
    entries settles consistency outright, and for any size the auditor happens to hold.
    """
    if note is None:
        return None
    previous = _open_note(note.encode("utf-8"), verifier_key, "previous checkpoint")
    if previous.origin != current.origin:
        raise VerificationError(
            f"previous checkpoint is for log {previous.origin!r}, not {current.origin!r}"
        )
    if previous.size > current.size:
        raise VerificationError(
            f"rollback: the bundle's checkpoint (size {current.size}) is older than your "
            f"previous checkpoint (size {previous.size})"
        )
    if root(leaf_hashes[: previous.size]) != previous.root:
        raise VerificationError(
            f"split view or rewritten history: the log in the bundle (size {current.size}) "
            f"does not extend your previous checkpoint (size {previous.size})"
        )
    return previous.size


def _check_earlier(bundle: _Bundle, current: Checkpoint, verifier_key: str) -> tuple[int, ...]:
    """Every earlier checkpoint in the bundle is signed and proven consistent with the current."""
    notes = {int(m[1]) for m in map(_CHECKPOINT_FILE.fullmatch, bundle.names) if m}
    proofs = {}
    for match in filter(None, map(_CONSISTENCY_FILE.fullmatch, bundle.names)):
        if int(match[2]) != current.size:
            raise VerificationError(f"{match[0]} does not lead to the bundle's checkpoint")
        proofs[int(match[1])] = match[0]
    unpaired = sorted(notes ^ proofs.keys())
    if unpaired:
        raise VerificationError(f"earlier checkpoint {unpaired[0]} lacks its note or its proof")
    for size in sorted(notes):
        name = f"checkpoints/{size}.txt"
        old = _open_note(bundle.read(name), verifier_key, name)
        if old.size != size or old.origin != current.origin:
            raise VerificationError(f"{name} is not the checkpoint its name says")
        _check_consistency_file(proofs[size], bundle.read(proofs[size]), old, current)
    return tuple(sorted(notes))


def _check_consistency_file(name: str, data: bytes, old: Checkpoint, new: Checkpoint) -> None:
    proof = _hex_hashes(_json_object(data, name).get("proof"), name)
    # Byte equality with the document we would write: right sizes and roots, nothing else.
    if data != consistency_document(old, new, proof):
        raise VerificationError(f"{name} does not describe these two checkpoints")
    try:
        verify_consistency(old.size, new.size, proof, old.root, new.root)
    except ProofError as exc:
        raise VerificationError(f"{name}: split view or rewritten history: {exc}") from None


def _read_events(data: bytes) -> list[tuple[EventRecord, list[bytes]]]:
    if data and not data.endswith(b"\n"):
        raise VerificationError(f"{EVENTS} does not end with a newline")
    lines = data.split(b"\n")[:-1]
    return [_read_event_line(line, number) for number, line in enumerate(lines, 1)]


def _read_event_line(line: bytes, number: int) -> tuple[EventRecord, list[bytes]]:
    where = f"{EVENTS} line {number}"
    obj = _json_object(line, where)
    if obj.keys() != _EVENT_KEYS:
        raise VerificationError(f"{where}: not an event record")
    seq, log_index, erased = obj["seq"], obj["log_index"], obj["erased"]
    if log_index is None:
        # An export integrates before it signs, so only an edit leaves an event without a leaf.
        raise VerificationError(
            f"{where}: the event is pending, with no log index: a bundle holds "
            "only events integrated into its checkpoint's log"
        )
    if not _is_count(seq) or not _is_count(log_index) or not isinstance(erased, bool):
        raise VerificationError(f"{where}: seq, log_index or erased has the wrong type")
    payload, salt = obj["payload"], obj["salt"]
    if erased != (payload is None) or erased != (salt is None):
        raise VerificationError(f"{where}: erased must go with neither payload nor salt")
    record = EventRecord(
        seq=seq,
        header=_utf8(obj["header"], where),
        entry_hash=_hex_hash(obj["entry_hash"], where),
        prev_hash=_hex_hash(obj["prev_hash"], where),
        payload=None if payload is None else _utf8(payload, where),
        salt=None if salt is None else _hex_hash(salt, where),
        log_index=log_index,
    )
    return record, _hex_hashes(obj["inclusion_proof"], where)


def _check_log_entries(
    case: str,
    events: list[tuple[EventRecord, list[bytes]]],
    leaves: bytes,
    leaf_hashes: list[bytes],
    checkpoint: Checkpoint,
) -> None:
    for record, proof in events:
        where = f"case {case} event {record.seq}"
        index = record.log_index
        if index >= checkpoint.size:
            raise VerificationError(f"{where}: log index {index} is beyond the checkpoint")
        if leaves[index * LEAF_SIZE : (index + 1) * LEAF_SIZE] != leaf_data(
            case, record.entry_hash
        ):
            raise VerificationError(f"{where}: log entry {index} does not hold this event")
        try:
            verify_inclusion(leaf_hashes[index], index, checkpoint.size, proof, checkpoint.root)
        except ProofError as exc:
            raise VerificationError(f"{where}: inclusion proof: {exc}") from None


def _check_completeness(
    case: str, events: list[tuple[EventRecord, list[bytes]]], leaves: bytes
) -> None:
    """Every log entry tagged with this case is one of the bundle's events."""
    tag, claimed = case_tag(case), {record.log_index for record, _ in events}
    position = leaves.find(tag)
    while position >= 0:
        index, offset = divmod(position, LEAF_SIZE)
        if offset == 0 and index not in claimed:
            raise VerificationError(
                f"incomplete: log entry {index} belongs to case {case} but no event in the "
                "bundle matches it"
            )
        position = leaves.find(tag, position + 1)


def _read_withheld(bundle: _Bundle) -> dict[str, str]:
    """The files the bundle says it leaves out, by SHA-256, with the reason for each."""
    if WITHHELD not in bundle.names:
        return {}
    data = bundle.read(WITHHELD)
    withheld = _json_object(data, WITHHELD).get("withheld")
    if not isinstance(withheld, dict) or not withheld:
        raise VerificationError(f"{WITHHELD}: expected a non-empty 'withheld' object")
    for sha, reason in withheld.items():
        _hex_hash(sha, WITHHELD)
        if not isinstance(reason, str) or not reason.strip():
            raise VerificationError(f"{WITHHELD}: {sha} has no reason")
    if data != withheld_document(withheld):
        raise VerificationError(f"{WITHHELD} is not in its canonical form")
    return withheld


def _check_blobs(
    names: frozenset[str], digests: dict[str, str], referenced: set[str], withheld: dict[str, str]
) -> None:
    for sha in sorted(withheld):
        if sha not in referenced:
            raise VerificationError(f"{WITHHELD} names {sha}, which no event references")
        if f"blobs/{sha}" in names:
            raise VerificationError(f"blobs/{sha} is in the bundle and also said to be withheld")
    for sha in sorted(referenced - withheld.keys()):
        name = f"blobs/{sha}"
        if name not in names:
            raise VerificationError(f"{name}, named by an event, is missing")
        if digests[name] != sha:
            raise VerificationError(f"{name}: content does not match its name")
    for match in filter(None, map(_BLOB_FILE.fullmatch, sorted(names))):
        if match[1] not in referenced:
            raise VerificationError(f"{match[0]} is not referenced by any event")


# --- strict JSON field readers --------------------------------------------------------------


def _json_object(data: bytes, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError):
        raise VerificationError(f"{where}: not valid JSON") from None
    if not isinstance(obj, dict):
        raise VerificationError(f"{where}: not a JSON object")
    return obj


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _utf8(value: Any, where: str) -> bytes:
    try:
        if isinstance(value, str):
            return value.encode("utf-8")
    except UnicodeEncodeError:
        pass
    raise VerificationError(f"{where}: expected UTF-8 text")


def _hex_hash(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise VerificationError(f"{where}: expected 64 lowercase hex digits")
    return bytes.fromhex(value)


def _hex_hashes(value: Any, where: str) -> list[bytes]:
    if not isinstance(value, list):
        raise VerificationError(f"{where}: expected a list of hashes")
    return [_hex_hash(h, where) for h in value]


# --- command line ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Verify a bundle; print PASS (exit 0), FAIL: <reason> (exit 1); usage errors exit 2."""
    parser = argparse.ArgumentParser(
        prog="python -m cases.trail.verify",
        description="Verify a Docket evidence bundle offline against a pinned public key.",
    )
    parser.add_argument("bundle", type=Path, help="bundle folder or .zip")
    parser.add_argument(
        "--public-key",
        required=True,
        type=Path,
        metavar="FILE",
        help="your pinned copy of the log's verifier key",
    )
    parser.add_argument(
        "--previous-checkpoint",
        type=Path,
        metavar="FILE",
        help="a checkpoint you saw earlier: detects rollback and rewrites",
    )
    args = parser.parse_args(argv)
    if not args.bundle.exists():
        parser.error(f"no such bundle: {args.bundle}")
    try:
        key = args.public_key.read_text("utf-8").strip()
        previous = args.previous_checkpoint and args.previous_checkpoint.read_text("utf-8")
        result = verify_bundle(args.bundle, verifier_key=key, previous_checkpoint=previous)
    except (OSError, UnicodeDecodeError, KeyFormatError) as exc:
        parser.error(str(exc))
    except VerificationError as exc:
        print(f"FAIL: {exc}")
        return 1
    print("\n".join(result.summary()))
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
