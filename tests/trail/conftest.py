"""Fixtures for the database side of the trail: a signing key, a blob store, and `scene`, a small
real trail (three cases interleaved in the log, shared and restricted blobs, two checkpoints)."""

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlmodel import Session, select

from cases.enums import EventType
from cases.models import Case
from cases.trail import audit
from cases.trail.audit import AuditReport, verify_trail
from cases.trail.blobs import FileBlobStore, store_blob
from cases.trail.checkpoints import sign_log_checkpoint
from cases.trail.export import export_case
from cases.trail.models import CaseEvent
from cases.trail.signed_notes import Signer, generate_signer_key
from cases.trail.store import APPENDED, append_event
from tests.factories import make_case

ORIGIN = "docket.example/trail"
ACTOR = "user:1"
MAX_BLOB = 1 << 20


def commit_pending(session: Session) -> None:
    """Commit, leaving what was appended pending: without the integration the embedded default
    runs right after a commit."""
    session.info.pop(APPENDED, None)
    session.commit()


@pytest.fixture(scope="session")
def signer_key() -> str:
    return generate_signer_key(ORIGIN)


@pytest.fixture(scope="session")
def signer(signer_key) -> Signer:
    return Signer.from_key(signer_key)


IN_TASKS = "in tasks"


@pytest.fixture(params=["in one pass", IN_TASKS])
def passes(request, monkeypatch) -> str:
    """Verification in one pass, or cut into tasks (see `tasks`)."""
    if request.param == IN_TASKS:
        tasks_in_threads(monkeypatch)
    return request.param


@pytest.fixture
def tasks(monkeypatch) -> None:
    """Verification cut into tasks of two leaves (six of each kind for `scene`)."""
    tasks_in_threads(monkeypatch)


def tasks_in_threads(monkeypatch) -> None:
    # Each task on a connection of its own, as in the pool's processes, but in threads of this
    # one, which start at once (tests/trail/test_audit_parallel.py spawns real processes too).
    monkeypatch.setattr(audit, "PARALLEL_FROM", 0)
    monkeypatch.setattr(audit, "PROCESSES", 6)
    monkeypatch.setattr(audit, "ProcessPoolExecutor", threads)


def threads(workers, mp_context, **options) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, **options)


@pytest.fixture
def blob_root(tmp_path) -> Path:
    return tmp_path / "evidence"


@pytest.fixture
def blob_store(blob_root) -> FileBlobStore:
    return FileBlobStore(blob_root)


@dataclass(frozen=True)
class Signed:
    id: int
    size: int
    note: str


@dataclass
class Scene:
    """Cases A, B, C with 4 events each, appended round-robin, so A's events sit at log indexes
    0, 3, 6, 9 and other cases' leaves lie between and after them. A2 and B2 name the blob
    `screenshot` (stored once), A3 names `transcript`, C1 the restricted blob `media`.
    Checkpoints were signed at sizes 6 and 12."""

    signer: Signer
    store: FileBlobStore
    cases: dict[str, Case]
    blobs: dict[str, str]
    checkpoints: list["Signed"] = field(default_factory=list)

    @property
    def a(self) -> Case:
        return self.cases["A"]

    def event(self, session: Session, name: str, seq: int) -> CaseEvent:
        case = self.cases[name]
        return session.exec(
            select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.seq == seq)
        ).one()

    def verify(self, session: Session, case_ref: str | None = None) -> AuditReport:
        report = verify_trail(
            session, verifier_key=self.signer.verifier_key, store=self.store, case_ref=case_ref
        )
        session.rollback()  # verification only reads; leave no transaction open
        return report

    def checkpoint(self, session: Session) -> "Signed":
        signed = sign_log_checkpoint(session, signer=self.signer, origin=ORIGIN)
        session.commit()
        # A copy: tampering may delete the row under an ORM object.
        return Signed(id=signed.id, size=signed.size, note=signed.note)

    def export(self, session: Session, out: Path, name: str = "A") -> Path:
        written = export_case(
            session,
            case=self.cases[name],
            out=out,
            signer=self.signer,
            origin=ORIGIN,
            store=self.store,
            actor="operator:test",
        )
        session.commit()
        return written


BLOB_BYTES = {
    "screenshot": (b"PNG screenshot of the reported profile", False),
    "transcript": (b"chat transcript, 14 messages", False),
    "media": (b"child-safety media (test bytes)", True),
}
BLOB_OF = {
    ("A", 2): "screenshot",
    ("B", 2): "screenshot",
    ("A", 3): "transcript",
    ("C", 1): "media",
}


@pytest.fixture
def scene(session, signer, blob_store) -> Scene:
    cases = {"A": make_case(session), "B": make_case(session), "C": make_case(session)}
    blobs = {
        name: store_blob(
            session,
            store=blob_store,
            stream=io.BytesIO(data),
            media_type="application/octet-stream",
            restricted=restricted,
            max_size=MAX_BLOB,
        ).sha256
        for name, (data, restricted) in BLOB_BYTES.items()
    }
    built = Scene(signer=signer, store=blob_store, cases=cases, blobs=blobs)
    for seq in range(1, 5):
        for name, case in cases.items():
            blob = BLOB_OF.get((name, seq))
            append_event(
                session,
                case=case,
                type=EventType.note,
                actor=ACTOR,
                payload={"text": f"{name} note {seq}", "reporter": f"reporter-{name}@example.org"},
                blobs=[blobs[blob]] if blob else [],
            )
        session.commit()
        if seq in (2, 4):
            built.checkpoints.append(built.checkpoint(session))
    assert [c.size for c in built.checkpoints] == [6, 12]
    return built
