"""Evidence bundles: a real export passes; every tampering of DESIGN section 4 fails, with the
specific message; the command line; and a property test of random single-byte damage."""

import dataclasses
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from functools import partial
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.trail import merkle
from cases.trail.bundle import write_bundle
from cases.trail.canonical import canonical
from cases.trail.events import GENESIS, EventRecord, entry_hash, leaf_data, make_event
from cases.trail.signed_notes import Signer, generate_signer_key, sign_checkpoint
from cases.trail.verify import VerificationError, main, verify_bundle

ORIGIN = "docket.example/trail"
AT = "2026-11-22T01:46:28.000123Z"
A, B = "DK-2026-000001", "DK-2026-000002"
EARLY = 8  # size of the earlier checkpoint the exports include
REPO = Path(__file__).resolve().parents[2]


class Log:
    """The global log as an in-memory node store, built by append_leaf."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.border: list[bytes] = []
        self.leaves: list[bytes] = []

    def append(self, data: bytes) -> int:
        index = len(self.leaves)
        self.border, created = merkle.append_leaf(self.border, index, merkle.leaf_hash(data))
        self.nodes.update({(level, i): h for level, i, h in created})
        self.leaves.append(data)
        return index

    def node(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]


class World:
    """Cases appending to their chains and to one global log, as the database side does."""

    def __init__(self, signer: Signer, blob_dir: Path) -> None:
        self.signer, self.blob_dir = signer, blob_dir
        self.log = Log()
        self.history: list[tuple[str, EventRecord]] = []  # in log order
        self.blobs: dict[str, Path] = {}

    def chain(self, case: str) -> list[EventRecord]:
        return [record for c, record in self.history if c == case]

    def add(self, case: str, *, type="note_added", payload=None, blob: bytes | None = None):
        chain = self.chain(case)
        names = [self._store(blob)] if blob is not None else []
        record = make_event(
            case_ref=case,
            seq=len(chain) + 1,
            prev=chain[-1].entry_hash if chain else GENESIS,
            type=type,
            actor="user:7",
            at=AT,
            payload={"n": len(self.history)} if payload is None else payload,
            blobs=names,
        )
        self._append(case, record)
        return record

    def _store(self, blob: bytes) -> str:
        sha = hashlib.sha256(blob).hexdigest()
        self.blobs[sha] = self.blob_dir / sha
        self.blobs[sha].write_bytes(blob)
        return sha

    def _append(self, case: str, record: EventRecord) -> None:
        index = self.log.append(leaf_data(case, record.entry_hash))
        self.history.append((case, dataclasses.replace(record, log_index=index)))

    def erase(self, case: str, seq: int) -> None:
        self.history = [
            (c, dataclasses.replace(r, payload=None, salt=None) if (c, r.seq) == (case, seq) else r)
            for c, r in self.history
        ]
        self.add(case, type="erased", payload={"erased": [seq]})

    def rebuilt(self, history: list[tuple[str, EventRecord]]) -> "World":
        """A forger's world: this history (edited at will) with a log recomputed to match."""
        forged = World(self.signer, self.blob_dir)
        forged.blobs = self.blobs
        for case, record in history:
            forged._append(case, record)
        return forged

    def checkpoint(self, size: int | None = None, signer: Signer | None = None) -> str:
        size = len(self.log.leaves) if size is None else size
        root = merkle.root_at(size, self.log.node)
        return sign_checkpoint(signer or self.signer, origin=ORIGIN, size=size, root=root)

    def openers(self, shas) -> dict:
        """`write_bundle`'s blobs: a function opening each file."""
        return {sha: partial(self.blobs[sha].open, "rb") for sha in shas}

    def export(self, out: Path, case: str, *, earlier=(EARLY,), signer: Signer | None = None):
        signer = signer or self.signer
        size = len(self.log.leaves)
        chain = self.chain(case)
        named = {sha for record in chain for sha in json.loads(record.header)["blobs"]}
        return write_bundle(
            out,
            case_ref=case,
            checkpoint_note=self.checkpoint(signer=signer),
            verifier_key=signer.verifier_key,
            leaves=self.log.leaves,
            events=[(r, merkle.inclusion_proof(r.log_index, size, self.log.node)) for r in chain],
            blobs=self.openers(named),
            earlier=[
                (self.checkpoint(m, signer), merkle.consistency_proof(m, size, self.log.node))
                for m in earlier
            ],
            created_at=AT,
        )


def populate(world: World, variant: str = "") -> World:
    """14 events over two cases, interleaved; case A names two blobs, case B one."""
    script = [
        (A, None),
        (B, None),
        (A, b"screenshot of the report"),
        (B, b"classifier output"),
        (A, None),
        (A, b"chat transcript"),
        (B, None),
        (A, None),
        (B, None),
        (A, None),
        (B, None),
        (A, None),
        (B, None),
        (A, None),
    ]
    for n, (case, blob) in enumerate(script):
        world.add(case, blob=blob, payload={"n": n, "note": f"event {n}{variant}"})
    return world


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.from_key(generate_signer_key(ORIGIN))


@pytest.fixture
def world(signer, tmp_path) -> World:
    store = tmp_path / "store"
    store.mkdir()
    return populate(World(signer, store))


@pytest.fixture
def bundle(world, tmp_path) -> Path:
    return world.export(tmp_path / "bundle", A)


def verify(path: Path, signer: Signer, previous: str | None = None):
    return verify_bundle(path, verifier_key=signer.verifier_key, previous_checkpoint=previous)


def refresh_manifest(folder: Path) -> None:
    """Re-hash every file into the manifest, as a forger would, so deeper checks must catch."""
    manifest = json.loads((folder / "manifest.json").read_bytes())
    manifest["files"] = {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    (folder / "manifest.json").write_bytes(canonical(manifest))


def edit_events(folder: Path, edit) -> None:
    path = folder / "events.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    edit(lines)
    path.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines))
    refresh_manifest(folder)


def blob_names(world: World, case: str) -> list[str]:
    return [sha for r in world.chain(case) for sha in json.loads(r.header)["blobs"]]


# --- a genuine export ---------------------------------------------------------------------------


def test_export_passes(world, bundle, signer):
    result = verify(bundle, signer, previous=world.checkpoint(EARLY))
    assert (result.case, result.origin, result.size) == (A, ORIGIN, 14)
    assert (result.events, result.erased, result.blobs) == (8, 0, 2)
    assert (result.earlier, result.previous) == ((EARLY,), EARLY)
    assert result.root == merkle.root(list(map(merkle.leaf_hash, world.log.leaves)))


def test_other_case_and_zip_pass(world, signer, tmp_path):
    assert verify(world.export(tmp_path / "b.zip", B), signer).events == 6
    zipped = world.export(tmp_path / "a.zip", A)
    assert zipfile.is_zipfile(zipped)
    assert verify(zipped, signer).events == 8


def test_layout(world, bundle, signer):
    names = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    blobs = {f"blobs/{sha}" for sha in blob_names(world, A)}
    assert names == {
        "manifest.json",
        "checkpoint.txt",
        "public-key.txt",
        "README.txt",
        "log/leaves.bin",
        "events.jsonl",
        f"checkpoints/{EARLY}.txt",
        f"consistency/{EARLY}-14.json",
        *blobs,
    }
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format"] == "docket-evidence-bundle/1"
    assert (manifest["case"], manifest["checkpoint_size"]) == (A, 14)
    assert set(manifest["files"]) == names - {"manifest.json"}
    assert (bundle / "public-key.txt").read_text() == signer.verifier_key + "\n"
    assert "python -m cases.trail.verify" in (bundle / "README.txt").read_text()
    assert (bundle / "log/leaves.bin").read_bytes() == b"".join(world.log.leaves)
    first = json.loads((bundle / "events.jsonl").read_text().splitlines()[0])
    assert first["header"].encode() == world.chain(A)[0].header
    assert list(first) == [
        "seq",
        "log_index",
        "header",
        "entry_hash",
        "prev_hash",
        "payload",
        "salt",
        "erased",
        "inclusion_proof",
    ]


def test_erased_payload_still_passes(world, signer, tmp_path):
    world.erase(A, 2)
    bundle = world.export(tmp_path / "erased", A)
    result = verify(bundle, signer, previous=world.checkpoint(EARLY))
    assert (result.events, result.erased) == (9, 1)
    line = json.loads((bundle / "events.jsonl").read_text().splitlines()[1])
    assert (line["payload"], line["salt"], line["erased"]) == (None, None, True)


# --- tampering -----------------------------------------------------------------------------------


def test_edited_payload(bundle, signer):
    edit_events(bundle, lambda lines: lines[1].update(payload='{"n":2,"note":"nothing here"}'))
    with pytest.raises(VerificationError, match=f"case {A} event 2: payload does not match"):
        verify(bundle, signer)


def _resealed(record: EventRecord, old: bytes, new: bytes) -> EventRecord:
    header = record.header.replace(old, new)
    return dataclasses.replace(record, header=header, entry_hash=entry_hash(header))


def test_edited_header_rehashed_and_resigned_breaks_the_chain(world, signer, tmp_path):
    # The forger edits event 3's header, recomputes its entry hash, the log, every proof, and
    # signs a fresh checkpoint with the real key. The next event still links to the original.
    target = next(i for i, (c, r) in enumerate(world.history) if (c, r.seq) == (A, 3))
    history = list(world.history)
    history[target] = (A, _resealed(history[target][1], b"user:7", b"user:9"))
    forged = world.rebuilt(history).export(tmp_path / "forged", A)
    with pytest.raises(VerificationError, match=f"case {A} event 4: stored prev hash"):
        verify(forged, signer)


def test_edited_last_header_rehashed_is_caught_by_an_earlier_checkpoint(world, signer, tmp_path):
    last = max(i for i, (c, _) in enumerate(world.history) if c == A)
    history = list(world.history)
    history[last] = (A, _resealed(history[last][1], b"user:7", b"user:9"))
    forged = world.rebuilt(history).export(tmp_path / "forged", A)
    # Internally consistent, so only history held outside the bundle can tell:
    assert verify(forged, signer).events == 8
    with pytest.raises(VerificationError, match="split view or rewritten history"):
        verify(forged, signer, previous=world.checkpoint())


def test_deleted_middle_event_with_its_leaf(world, signer, tmp_path):
    history = [(c, r) for c, r in world.history if (c, r.seq) != (A, 3)]
    forged = world.rebuilt(history).export(tmp_path / "forged", A)
    with pytest.raises(VerificationError, match=f"case {A} event 3: expected seq 3, found 4"):
        verify(forged, signer)


def test_deleted_middle_event_without_its_leaf(bundle, signer):
    edit_events(bundle, lambda lines: lines.pop(2))
    with pytest.raises(VerificationError, match=f"case {A} event 3: expected seq 3, found 4"):
        verify(bundle, signer)


def test_deleted_last_event_leaf_kept(world, bundle, signer):
    edit_events(bundle, lambda lines: lines.pop())
    last = world.chain(A)[-1].log_index
    with pytest.raises(
        VerificationError, match=f"incomplete: log entry {last} belongs to case {A}"
    ):
        verify(bundle, signer)


def test_reordered_events(bundle, signer):
    def swap(lines):
        lines[1], lines[2] = lines[2], lines[1]

    edit_events(bundle, swap)
    with pytest.raises(VerificationError, match="event 2: expected seq 2, found 3"):
        verify(bundle, signer)


def test_swapped_blob_bytes(world, bundle, signer):
    first, second = (bundle / "blobs" / sha for sha in blob_names(world, A))
    one, two = first.read_bytes(), second.read_bytes()
    first.write_bytes(two)
    second.write_bytes(one)
    reported = min(first.name, second.name)  # files are checked in name order
    with pytest.raises(VerificationError, match=f"blobs/{reported} does not match its SHA-256"):
        verify(bundle, signer)
    refresh_manifest(bundle)
    with pytest.raises(VerificationError, match=f"blobs/{reported}: content does not match"):
        verify(bundle, signer)


def test_swapped_blob_references(world, bundle, signer):
    x, y = blob_names(world, A)

    def swap(lines):
        for line in lines:
            header = line["header"]
            if x in header or y in header:
                line["header"] = header.replace(x, "#").replace(y, x).replace("#", y)
                line["entry_hash"] = entry_hash(line["header"].encode()).hex()

    edit_events(bundle, swap)
    # Event 2 names the first blob; once its header is edited, event 3 no longer links to it.
    with pytest.raises(VerificationError, match=f"case {A} event 3: stored prev hash"):
        verify(bundle, signer)


def test_checkpoint_signed_by_another_key(world, signer, tmp_path):
    other = Signer.from_key(generate_signer_key(ORIGIN))
    bundle = world.export(tmp_path / "other", A, signer=other)
    assert verify(bundle, other).events == 8
    with pytest.raises(
        VerificationError, match="checkpoint.txt: checkpoint is not signed by the pinned key"
    ):
        verify(bundle, signer)


def test_truncated_log_with_resigned_checkpoint(world, signer, tmp_path):
    held_by_auditor = world.checkpoint()
    forged = world.rebuilt(world.history[:11]).export(tmp_path / "forged", A)
    assert verify(forged, signer).size == 11  # a shorter log is self-consistent...
    with pytest.raises(
        VerificationError, match=r"rollback: .* \(size 11\) is older .* \(size 14\)"
    ):
        verify(forged, signer, previous=held_by_auditor)  # ...but older than what was seen


def test_full_history_rewrite_resigned_with_the_real_key(world, signer, tmp_path):
    held_by_auditor = world.checkpoint(EARLY)
    rewritten = populate(World(signer, world.blob_dir), variant=" (rewritten)")
    forged = rewritten.export(tmp_path / "forged", A)
    assert verify(forged, signer).events == 8  # its own earlier checkpoints agree with it
    with pytest.raises(
        VerificationError,
        match=rf"split view or rewritten history: .* does not extend .* \(size {EARLY}\)",
    ):
        verify(forged, signer, previous=held_by_auditor)


def test_same_size_different_root_is_a_split_view(world, signer, tmp_path):
    other_view = populate(World(signer, world.blob_dir), variant=" (other view)")
    with pytest.raises(VerificationError, match="split view or rewritten history"):
        verify(world.export(tmp_path / "b", A), signer, previous=other_view.checkpoint())


@pytest.mark.parametrize(
    "name",
    [
        "README.txt",
        "public-key.txt",
        "events.jsonl",
        "log/leaves.bin",
        "checkpoint.txt",
        f"checkpoints/{EARLY}.txt",
        f"consistency/{EARLY}-14.json",
        "blob",
    ],
)
def test_file_edits_not_in_the_manifest(world, bundle, signer, name):
    if name == "blob":
        name = f"blobs/{blob_names(world, A)[0]}"
    with (bundle / name).open("ab") as f:
        f.write(b" ")
    with pytest.raises(VerificationError, match=f"^{name} does not match its SHA-256 in manifest"):
        verify(bundle, signer)


def test_files_added_or_removed_behind_the_manifest(bundle, signer):
    (bundle / "extra.txt").write_text("hello")
    with pytest.raises(VerificationError, match="extra.txt is not listed in manifest.json"):
        verify(bundle, signer)
    refresh_manifest(bundle)
    with pytest.raises(VerificationError, match="unexpected file extra.txt"):
        verify(bundle, signer)
    (bundle / "extra.txt").unlink()
    (bundle / "README.txt").unlink()
    with pytest.raises(VerificationError, match="manifest.json lists README.txt, which the bundle"):
        verify(bundle, signer)
    (bundle / "manifest.json").unlink()
    with pytest.raises(VerificationError, match="manifest.json is missing"):
        verify(bundle, signer)


def test_leaves_edited_behind_a_refreshed_manifest(bundle, signer):
    leaves = bytearray((bundle / "log/leaves.bin").read_bytes())
    leaves[100] ^= 1
    (bundle / "log/leaves.bin").write_bytes(bytes(leaves))
    refresh_manifest(bundle)
    with pytest.raises(VerificationError, match="log/leaves.bin does not hash to the checkpoint"):
        verify(bundle, signer)


def test_edited_inclusion_proof(bundle, signer):
    edit_events(bundle, lambda lines: lines[0]["inclusion_proof"].reverse())
    with pytest.raises(VerificationError, match=f"case {A} event 1: inclusion proof"):
        verify(bundle, signer)


def test_edited_log_index(bundle, signer):
    edit_events(bundle, lambda lines: lines[0].update(log_index=1))
    with pytest.raises(VerificationError, match="event 1: log entry 1 does not hold this event"):
        verify(bundle, signer)
    edit_events(bundle, lambda lines: lines[0].update(log_index=99))
    with pytest.raises(VerificationError, match="event 1: log index 99 is beyond the checkpoint"):
        verify(bundle, signer)


def test_edited_earlier_consistency_proof(bundle, signer):
    path = bundle / f"consistency/{EARLY}-14.json"
    document = json.loads(path.read_text())
    document["proof"][0] = "00" * 32
    path.write_bytes(canonical(document))
    refresh_manifest(bundle)
    with pytest.raises(VerificationError, match=f"consistency/{EARLY}-14.json: split view"):
        verify(bundle, signer)


def test_earlier_checkpoint_without_its_proof(bundle, signer):
    (bundle / f"consistency/{EARLY}-14.json").unlink()
    refresh_manifest(bundle)
    with pytest.raises(VerificationError, match=f"earlier checkpoint {EARLY} lacks"):
        verify(bundle, signer)


def test_previous_checkpoint_must_be_signed_by_the_pinned_key(world, bundle, signer):
    other = Signer.from_key(generate_signer_key(ORIGIN))
    with pytest.raises(VerificationError, match="previous checkpoint: checkpoint is not signed"):
        verify(bundle, signer, previous=world.checkpoint(EARLY, signer=other))


def test_previous_checkpoint_of_another_log(world, bundle, signer):
    note = sign_checkpoint(signer, origin="elsewhere.example/log", size=1, root=bytes(32))
    with pytest.raises(VerificationError, match="previous checkpoint is for log"):
        verify(bundle, signer, previous=note)


def test_previous_checkpoint_of_the_empty_log(bundle, signer):
    note = sign_checkpoint(signer, origin=ORIGIN, size=0, root=merkle.EMPTY_ROOT)
    assert verify(bundle, signer, previous=note).previous == 0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: lines[0].update(extra=1), "events.jsonl line 1: not an event record"),
        (lambda lines: lines[0].update(erased=True), "line 1: erased must go with neither"),
        (lambda lines: lines[0].update(seq="1"), "line 1: seq, log_index or erased"),
        (lambda lines: lines[0].update(entry_hash="AB" * 32), "line 1: expected 64 lowercase"),
        (lambda lines: lines[0].update(inclusion_proof="00"), "line 1: expected a list"),
    ],
)
def test_malformed_event_lines(bundle, signer, edit, message):
    edit_events(bundle, edit)
    with pytest.raises(VerificationError, match=message):
        verify(bundle, signer)


def test_events_file_that_is_not_json_lines(bundle, signer):
    (bundle / "events.jsonl").write_text('{"seq":1,"seq":1}\n')
    refresh_manifest(bundle)
    with pytest.raises(VerificationError, match="events.jsonl line 1: not valid JSON"):
        verify(bundle, signer)


def test_zip_with_a_duplicated_file(world, signer, tmp_path):
    zipped = world.export(tmp_path / "a.zip", A)
    with (
        zipfile.ZipFile(zipped, "a") as archive,
        pytest.warns(UserWarning, match="Duplicate name"),
    ):
        archive.writestr("README.txt", "a second README")
    with pytest.raises(VerificationError, match="README.txt appears twice in the zip"):
        verify(zipped, signer)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_symbolic_links_are_refused(bundle, signer, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not part of the bundle")
    (bundle / "README.txt").unlink()
    (bundle / "README.txt").symlink_to(outside)
    with pytest.raises(VerificationError, match="README.txt is not a regular file"):
        verify(bundle, signer)


def test_not_a_bundle(signer, tmp_path):
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(VerificationError, match="neither a bundle folder nor a zip"):
        verify(tmp_path / "plain.txt", signer)


def test_corrupted_zip(world, signer, tmp_path):
    zipped = world.export(tmp_path / "a.zip", A)
    with zipfile.ZipFile(zipped) as archive:
        info = archive.getinfo("log/leaves.bin")
    data = bytearray(zipped.read_bytes())
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    data[info.header_offset + 30 + name_length + extra_length + 10] ^= 0xFF  # compressed data
    zipped.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match="cannot read"):
        verify(zipped, signer)


# --- command line --------------------------------------------------------------------------------


@pytest.fixture
def key_file(signer, tmp_path) -> Path:
    path = tmp_path / "pinned.pub"
    path.write_text(signer.verifier_key + "\n")
    return path


def test_cli_pass(world, bundle, key_file, tmp_path, capsys):
    previous = tmp_path / "seen.txt"
    previous.write_text(world.checkpoint(EARLY))
    args = [str(bundle), "--public-key", str(key_file), "--previous-checkpoint", str(previous)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.endswith("PASS\n")
    assert f"consistent with your previous checkpoint at size {EARLY}" in out


def test_cli_fail(bundle, key_file, capsys):
    edit_events(bundle, lambda lines: lines.pop())
    assert main([str(bundle), "--public-key", str(key_file)]) == 1
    assert capsys.readouterr().out.startswith("FAIL: incomplete: log entry")


@pytest.mark.parametrize(
    "args",
    [
        ["{bundle}"],
        ["{bundle}", "--public-key", "{missing}"],
        ["{bundle}", "--public-key", "{bad_key}"],
        ["{missing}", "--public-key", "{key}"],
        ["{bundle}", "--public-key", "{key}", "--previous-checkpoint", "{missing}"],
    ],
    ids=["no key", "key file missing", "malformed key", "no such bundle", "no previous file"],
)
def test_cli_usage_errors_exit_2(bundle, key_file, tmp_path, args):
    bad_key = tmp_path / "bad.pub"
    bad_key.write_text("not a key")
    values = dict(bundle=bundle, key=key_file, bad_key=bad_key, missing=tmp_path / "missing")
    with pytest.raises(SystemExit) as exited:
        main([arg.format(**values) for arg in args])
    assert exited.value.code == 2


OFFLINE_RUN = """
import os, runpy, sys
sys.argv = ["verify", *sys.argv[1:]]
try:
    runpy.run_module("cases.trail.verify", run_name="__main__")
except SystemExit as exited:
    code = exited.code
assert sys.modules["cases.trail"].__file__.startswith(os.getcwd()), "not the auditor's copy"
loaded = {"flask", "sqlalchemy", "sqlmodel", "app"} & set(sys.modules)
assert not loaded, f"the verifier imported {loaded}"
sys.exit(code)
"""


def test_module_runs_offline_without_the_application(world, key_file, tmp_path):
    # An auditor's copy: cases/trail/ alone (no models), run as python -m cases.trail.verify.
    offline = tmp_path / "auditor"
    shutil.copytree(REPO / "cases" / "trail", offline / "cases" / "trail")
    (offline / "cases" / "trail" / "models.py").unlink(missing_ok=True)
    (offline / "cases" / "__init__.py").write_text("")
    zipped = world.export(tmp_path / "a.zip", A)
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_RUN, str(zipped), "--public-key", str(key_file)],
        cwd=offline,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.endswith("PASS\n")


# --- property: any single damaged byte fails verification --------------------------------------

INFORMATIONAL = {"README.txt", "public-key.txt"}  # covered by the manifest hash only


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_damaged_byte_fails(signer, data):
    script = data.draw(
        st.lists(
            st.tuples(st.sampled_from([A, B, "DK-2026-000003"]), st.booleans()),
            min_size=1,
            max_size=12,
        ),
        label="appends (case, with blob)",
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "store").mkdir()
        world = World(signer, root / "store")
        for n, (case, with_blob) in enumerate(script):
            world.add(case, blob=f"blob {n}".encode() if with_blob else None)
        case = script[0][0]
        if data.draw(st.booleans(), label="erase the first payload"):
            world.erase(case, 1)
        earlier = data.draw(st.sampled_from([(), (1,), (len(script),)]), label="earlier")
        bundle = world.export(root / "bundle", case, earlier=earlier)
        assert verify(bundle, signer).events == len(world.chain(case))
        # The manifest's created_at is informational: not checked beyond its format.
        files = sorted(
            p.relative_to(bundle).as_posix()
            for p in bundle.rglob("*")
            if p.is_file() and p.name != "manifest.json"
        )
        name = data.draw(st.sampled_from(files), label="file")
        content = bytearray((bundle / name).read_bytes())
        position = data.draw(st.integers(0, len(content) - 1), label="position")
        content[position] ^= data.draw(st.integers(1, 255), label="xor")
        (bundle / name).write_bytes(bytes(content))
        if name not in INFORMATIONAL and data.draw(st.booleans(), label="refresh manifest"):
            refresh_manifest(bundle)
        with pytest.raises(VerificationError):
            verify(bundle, signer)
