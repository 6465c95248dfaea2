"""Concurrent appenders and an integrator in separate OS processes, each committing on its own:
per-case locks (BEGIN IMMEDIATE on SQLite, SELECT … FOR UPDATE on the case rows on PostgreSQL)
must leave one linear chain per case, and the integrator (the log-head lock) one gap-free log with
every event in it exactly once, whatever the interleaving; an integrator killed mid-batch leaves
nothing behind that the next run does not complete."""

import multiprocessing
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select

from cases.core.db import make_engine
from cases.enums import EventType
from cases.models import Case
from cases.trail.audit import verify_trail
from cases.trail.checkpoints import sign_log_checkpoint
from cases.trail.events import leaf_data
from cases.trail.models import CaseEvent, LogLeaf
from cases.trail.store import append_event, integrate_log, log_size, pending_events
from tests.factories import make_case
from tests.trail.conftest import ORIGIN, commit_pending

WORKERS = 4
APPENDS = 250
TIMEOUT = 300  # a guard against a hung worker, not a speed assertion (the aim is < 60 s)
SPAWN = multiprocessing.get_context("spawn")  # no inherited connections or locks


@dataclass(frozen=True)
class CaseRef:
    """What append_event needs of a case, picklable for the worker processes."""

    id: int
    reference: str


def append_many(url: str, case: CaseRef, worker: int, start) -> None:
    """One appender: its own engine, one transaction per append (outside any app, so nothing
    integrates after its commits: the integrator process does)."""
    engine = make_engine(url)
    start.wait(timeout=60)  # all begin together, so their appends really interleave
    for n in range(APPENDS):
        with Session(engine) as session:
            append_event(
                session,
                case=case,
                type=EventType.note,
                actor=f"worker:{worker}",
                payload={"worker": worker, "n": n},
            )
            session.commit()
    engine.dispose()


def integrate_until(url: str, stop, batches) -> None:
    """The integrator: a batch per transaction, as fast as it can, until `stop` is set; counts
    the batches that found work."""
    engine = make_engine(url)
    while not stop.is_set():
        with Session(engine) as session:
            if integrate_log(session):
                batches.value += 1
            session.commit()
    engine.dispose()


def integrate_once(url: str) -> None:
    engine = make_engine(url)
    with Session(engine) as session:
        integrate_log(session)
        session.commit()


def run_workers(url: str, cases: list[CaseRef]) -> int:
    """Appenders on `cases` (round-robin) beside one integrator; returns the integrator's
    batches."""
    start = SPAWN.Barrier(WORKERS)
    stop, batches = SPAWN.Event(), SPAWN.Value("i", 0)
    integrator = SPAWN.Process(target=integrate_until, args=(url, stop, batches))
    appenders = [
        SPAWN.Process(target=append_many, args=(url, cases[w % len(cases)], w, start))
        for w in range(WORKERS)
    ]
    began = time.perf_counter()
    integrator.start()
    for process in appenders:
        process.start()
    for process in appenders:
        process.join(max(0.0, began + TIMEOUT - time.perf_counter()))
    stop.set()
    integrator.join(60)
    for process in [*appenders, integrator]:
        if process.is_alive():
            process.kill()
    assert [p.exitcode for p in appenders] == [0] * WORKERS, "an appender failed (its stderr)"
    assert integrator.exitcode == 0, "the integrator failed (see its stderr)"
    return batches.value


def assert_linear_chain(session: Session, case: CaseRef, count: int) -> None:
    rows = session.exec(
        select(CaseEvent.seq, CaseEvent.prev_hash, CaseEvent.entry_hash, CaseEvent.log_index)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.seq)
    ).all()
    assert [seq for seq, _, _, _ in rows] == list(range(1, count + 1))
    prev = "00" * 32
    for _, prev_hash, entry_hash, _ in rows:
        assert prev_hash == prev
        prev = entry_hash
    indexes = [index for _, _, _, index in rows]
    assert indexes == sorted(indexes), "a case's events were integrated out of chain order"


def assert_whole_log(session: Session, signer, blob_store, total: int) -> None:
    """Every event integrated exactly once, no gap, each leaf its event's; a checkpoint
    signed over it verifies."""
    forks = session.exec(
        select(CaseEvent.case_id, CaseEvent.prev_hash)
        .group_by(CaseEvent.case_id, CaseEvent.prev_hash)
        .having(func.count() > 1)
    ).all()
    assert forks == []
    indexes = session.exec(select(CaseEvent.log_index).order_by(CaseEvent.log_index)).all()
    assert indexes == list(range(total))
    assert log_size(session) == total
    assert pending_events(session) == (0, None)
    leaves = session.exec(
        select(LogLeaf.data, CaseEvent.entry_hash, Case.reference)
        .join(CaseEvent, CaseEvent.log_index == LogLeaf.index)
        .join(Case, Case.id == CaseEvent.case_id)
    ).all()
    assert len(leaves) == total
    assert all(data == leaf_data(ref, bytes.fromhex(entry)) for data, entry, ref in leaves)
    checkpoint = sign_log_checkpoint(session, signer=signer, origin=ORIGIN)
    session.commit()
    assert checkpoint.size == total
    report = verify_trail(session, verifier_key=signer.verifier_key, store=blob_store)
    assert (report.leaves, report.events, report.pending) == (total, total, 0)


@pytest.fixture
def case_refs(session):
    def make(count: int) -> list[CaseRef]:
        cases = [make_case(session) for _ in range(count)]
        session.commit()
        return [CaseRef(case.id, case.reference) for case in cases]

    return make


@pytest.mark.parametrize("case_count", [1, 2, WORKERS], ids=["one case", "two cases", "own cases"])
def test_appenders_and_the_integrator_interleave(
    session, database_url, signer, blob_store, case_refs, case_count
):
    cases = case_refs(case_count)
    batches = run_workers(database_url, cases)
    # Integrate what the last batch left (the integrator may stop just before the last commit).
    integrate_once(database_url)
    session.expire_all()
    appended = Counter(w % case_count for w in range(WORKERS))
    for n, case in enumerate(cases):
        assert_linear_chain(session, case, appended[n] * APPENDS)
    actors = Counter(session.exec(select(CaseEvent.actor)).all())
    assert actors == {f"worker:{w}": APPENDS for w in range(WORKERS)}
    assert_whole_log(session, signer, blob_store, WORKERS * APPENDS)
    assert batches > 1, "the integrator never ran beside the appenders"


def integrate_and_report(url: str, pid_file: str) -> None:
    """An integrator that writes its server backend's pid first, so the test can see it wait."""
    engine = make_engine(url)
    with Session(engine) as session:
        backend = session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with open(pid_file, "w") as f:
            f.write(str(backend))
        integrate_log(session)
        session.commit()


@pytest.mark.postgres_only
def test_an_integrator_killed_mid_batch_is_completed_by_the_next(
    session, database_url, signer, blob_store, case_refs, tmp_path
):
    cases = case_refs(3)
    engine = make_engine(database_url)
    with Session(engine) as appending:
        for n in range(60):
            append_event(appending, case=cases[n % 3], type=EventType.note, actor="worker:1")
        commit_pending(appending)
    last = session.exec(select(func.max(CaseEvent.id))).one()
    session.commit()
    # Hold the last pending event's row: the integrator, having written the leaves and subtree
    # hashes of the whole batch, waits there to set that event's log index.
    blocker = engine.connect()
    blocker.begin()
    blocker.execute(sa.text("SELECT 1 FROM case_event WHERE id = :id FOR UPDATE"), {"id": last})
    pid_file = tmp_path / "backend"
    integrator = SPAWN.Process(target=integrate_and_report, args=(database_url, str(pid_file)))
    integrator.start()
    deadline = time.monotonic() + 60
    waiting = None
    while waiting is None and time.monotonic() < deadline:
        time.sleep(0.05)
        if pid_file.exists() and pid_file.read_text():
            waiting = blocker.execute(
                sa.text(
                    "SELECT query FROM pg_stat_activity"
                    " WHERE pid = :pid AND wait_event_type = 'Lock'"
                ),
                {"pid": int(pid_file.read_text())},
            ).scalar()
    assert waiting is not None and "UPDATE case_event" in waiting, "never saw it mid-batch"
    os.kill(integrator.pid, signal.SIGKILL)
    integrator.join(10)
    blocker.rollback()
    blocker.close()
    # The server ends the dead client's transaction (its leaves and nodes go with it) once it
    # notices; the next integrator queues on the head lock until then.
    integrate_once(database_url)
    session.expire_all()
    for case in cases:
        assert_linear_chain(session, case, 20)
    assert_whole_log(session, signer, blob_store, 60)
    engine.dispose()
