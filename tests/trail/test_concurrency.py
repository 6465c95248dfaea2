"""Concurrent appenders in separate OS processes, each committing every append on its own:
the log-head lock (BEGIN IMMEDIATE on SQLite, SELECT … FOR UPDATE on PostgreSQL) must leave
one linear chain per case and one gap-free log, whatever the interleaving."""

import multiprocessing
import time
from collections import Counter
from dataclasses import dataclass

import pytest
from sqlmodel import Session, func, select

from cases.core.db import make_engine
from cases.enums import EventType
from cases.trail.audit import verify_trail
from cases.trail.models import CaseEvent, LogLeaf
from cases.trail.store import append_event, log_size
from tests.factories import make_case

WORKERS = 4
APPENDS = 250
TIMEOUT = 300  # a guard against a hung worker, not a speed assertion (the aim is < 60 s)


@dataclass(frozen=True)
class CaseRef:
    """What append_event needs of a case, picklable for the worker processes."""

    id: int
    reference: str


def append_many(url: str, case: CaseRef, worker: int, start) -> None:
    """One worker: its own engine, one transaction per append."""
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


def run_workers(url: str, cases: list[CaseRef]) -> None:
    context = multiprocessing.get_context("spawn")  # no inherited connections or locks
    start = context.Barrier(WORKERS)
    processes = [
        context.Process(target=append_many, args=(url, cases[w % len(cases)], w, start))
        for w in range(WORKERS)
    ]
    began = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join(max(0.0, began + TIMEOUT - time.perf_counter()))
    for process in processes:
        if process.is_alive():
            process.kill()
    assert [p.exitcode for p in processes] == [0] * WORKERS, "a worker failed (see its stderr)"


def assert_linear_chain(session: Session, case: CaseRef, count: int) -> None:
    rows = session.exec(
        select(CaseEvent.seq, CaseEvent.prev_hash, CaseEvent.entry_hash)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.seq)
    ).all()
    assert [seq for seq, _, _ in rows] == list(range(1, count + 1))
    prev = "00" * 32
    for _, prev_hash, entry_hash in rows:
        assert prev_hash == prev
        prev = entry_hash


def assert_whole_log(session: Session, signer, blob_store) -> None:
    total = WORKERS * APPENDS
    forks = session.exec(
        select(CaseEvent.case_id, CaseEvent.prev_hash)
        .group_by(CaseEvent.case_id, CaseEvent.prev_hash)
        .having(func.count() > 1)
    ).all()
    assert forks == []
    indexes = session.exec(select(CaseEvent.log_index).order_by(CaseEvent.log_index)).all()
    assert indexes == list(range(total))
    assert log_size(session) == total
    assert session.exec(select(func.count()).select_from(LogLeaf)).one() == total
    actors = Counter(session.exec(select(CaseEvent.actor)).all())
    assert actors == {f"worker:{w}": APPENDS for w in range(WORKERS)}
    report = verify_trail(session, verifier_key=signer.verifier_key, store=blob_store)
    assert (report.leaves, report.events) == (total, total)


@pytest.fixture
def case_refs(session):
    def make(count: int) -> list[CaseRef]:
        cases = [make_case(session) for _ in range(count)]
        session.commit()
        return [CaseRef(case.id, case.reference) for case in cases]

    return make


def test_four_processes_append_to_one_case(session, database_url, signer, blob_store, case_refs):
    (case,) = case_refs(1)
    run_workers(database_url, [case])
    assert_linear_chain(session, case, WORKERS * APPENDS)
    assert_whole_log(session, signer, blob_store)


def test_four_processes_append_to_their_own_cases(
    session, database_url, signer, blob_store, case_refs
):
    cases = case_refs(WORKERS)
    run_workers(database_url, cases)
    for case in cases:
        assert_linear_chain(session, case, APPENDS)
    assert_whole_log(session, signer, blob_store)
