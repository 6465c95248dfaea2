"""Benchmark of the evidence trail at scale (prints figures; asserts nothing).

    .venv/bin/python bench/trail.py [--events N] [--cases C]

Runs on a SQLite file in a temporary folder, or on DATABASE_URL if set (an empty, migrated or
new PostgreSQL database: the bench refuses a log that already has entries).

The log is bulk-built by writing rows directly with the trail's own pure functions (make_event,
leaf_data, merkle.append_leaf): exactly the rows append_events would write, without the ORM's
per-object cost, so a million events build in minutes. Everything measured goes through the real
code: append_event, inclusion_proof, sign_log_checkpoint, verify_trail (which, from 200,000
events, splits its work across one process per CPU: the figure includes their start-up).

Targets (DESIGN section 4): verification >= 100,000 events/s; an inclusion proof < 2 ms and a
checkpoint < 50 ms at 1,000,000 leaves; an append at 1M within 2x of one at 1k.
"""

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cases.core import migrate  # noqa: E402
from cases.core.db import make_engine, reading  # noqa: E402
from cases.core.sqltypes import utcnow  # noqa: E402
from cases.enums import EventType  # noqa: E402
from cases.models import Case, Subject  # noqa: E402
from cases.trail import merkle  # noqa: E402
from cases.trail.audit import verify_trail  # noqa: E402
from cases.trail.blobs import FileBlobStore  # noqa: E402
from cases.trail.canonical import utc_timestamp  # noqa: E402
from cases.trail.checkpoints import sign_log_checkpoint  # noqa: E402
from cases.trail.events import EVENT_DOMAIN, GENESIS, leaf_data, make_event  # noqa: E402
from cases.trail.models import CaseEvent, EventPayload, LogHead, LogLeaf, LogNode  # noqa: E402
from cases.trail.signed_notes import Signer, generate_signer_key  # noqa: E402
from cases.trail.store import append_event, inclusion_proof, log_size  # noqa: E402

ORIGIN = "bench.docket.example/trail"
SMALL = 1_000
CHUNK = 20_000  # events per bulk transaction


@dataclass(frozen=True)
class CaseRef:
    id: int
    reference: str


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, help="default: one per 100 events, at most 10,000")
    args = parser.parse_args()
    if args.events < SMALL:
        parser.error(f"--events must be at least {SMALL}")
    cases_wanted = args.cases or max(10, min(10_000, args.events // 100))

    with tempfile.TemporaryDirectory(prefix="docket-bench-") as tmp:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        signer = Signer.from_key(generate_signer_key(ORIGIN))
        store = FileBlobStore(Path(tmp) / "evidence")
        print(
            f"database: {engine.dialect.name} ({engine.url.render_as_string(hide_password=True)})"
        )
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        with Session(engine) as session:
            if log_size(session):
                sys.exit("the log is not empty: give the bench a database of its own")
            cases = make_cases(session, cases_wanted)
        print(f"{cases_wanted:,} cases, events appended round-robin across them")
        print("bulk build: rows written directly (Core executemany) from make_event, leaf_data")
        print(
            "and merkle.append_leaf, as append_events would write them; measured calls are real\n"
        )

        small = measure_at(engine, cases, signer, SMALL)
        large = measure_at(engine, cases, signer, args.events)
        print()
        report_costs(small, large)
        print()
        verification(engine, signer, store)


# --- bulk build -------------------------------------------------------------------------------


def make_cases(session: Session, count: int) -> list[CaseRef]:
    subjects = [Subject(kind="account", external_id=f"bench-{n}") for n in range(count)]
    session.add_all(subjects)
    session.flush()
    cases = [
        Case(
            reference=f"BN-{n:07d}",
            subject_id=subject.id,
            workflow_name="standard",
            workflow_version=1,
            workflow_digest="0" * 64,
            state="new",
            stage="intake",
        )
        for n, subject in enumerate(subjects)
    ]
    session.add_all(cases)
    session.commit()
    return [CaseRef(case.id, case.reference) for case in cases]


def bulk_build(engine: sa.Engine, cases: list[CaseRef], target: int) -> float:
    """Extend the log to `target` events, writing what append_events would; returns seconds."""
    began = time.perf_counter()
    with Session(engine) as session:
        head = session.get(LogHead, 1)
        size, border = head.size, [bytes.fromhex(h) for h in head.border]
        heads = case_heads(session)
        next_id = (session.exec(select(sa.func.max(CaseEvent.id))).one() or 0) + 1
    at = utcnow()
    timestamp = utc_timestamp(at)
    while size < target:
        events, payloads, leaves, nodes = [], [], [], []
        for _ in range(min(CHUNK, target - size)):
            case = cases[size % len(cases)]
            seq, prev = heads.get(case.id, (0, GENESIS))
            record = make_event(
                case_ref=case.reference,
                seq=seq + 1,
                prev=prev,
                type=EventType.note.value,
                actor="bench:bulk",
                at=timestamp,
                payload={"text": f"note {seq + 1} on {case.reference}", "n": size},
                log_index=size,
            )
            events.append(
                {
                    "id": next_id,
                    "case_id": case.id,
                    "seq": record.seq,
                    "prev_hash": prev.hex(),
                    "entry_hash": record.entry_hash.hex(),
                    "type": EventType.note.value,
                    "actor": "bench:bulk",
                    "at": at,
                    "header": record.header.decode(),
                    "log_index": size,
                }
            )
            payloads.append(
                {"event_id": next_id, "payload": record.payload.decode(), "salt": record.salt.hex()}
            )
            data = leaf_data(case.reference, record.entry_hash)
            leaves.append({"index": size, "data": data})
            border, created = merkle.append_leaf(border, size, merkle.leaf_hash(data))
            nodes += [{"level": lv, "index": i, "hash": h} for lv, i, h in created if lv > 0]
            heads[case.id] = (record.seq, record.entry_hash)
            size += 1
            next_id += 1
        with engine.begin() as connection:
            connection.execute(sa.insert(CaseEvent), events)
            connection.execute(sa.insert(EventPayload), payloads)
            connection.execute(sa.insert(LogLeaf), leaves)
            connection.execute(sa.insert(LogNode), nodes)
            connection.execute(
                sa.update(LogHead)
                .where(LogHead.id == 1)
                .values(size=size, border=[h.hex() for h in border])
            )
        print(f"\r  built {size:,} events", end="", flush=True)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Explicit ids leave the sequence behind; the next ORM insert must not collide.
            connection.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('case_event', 'id'), max(id)) FROM case_event"
            )
        connection.exec_driver_sql("ANALYZE")  # as after any bulk load
    print()
    return time.perf_counter() - began


def case_heads(session: Session) -> dict[int, tuple[int, bytes]]:
    last = (
        select(CaseEvent.case_id, sa.func.max(CaseEvent.seq).label("seq"))
        .group_by(CaseEvent.case_id)
        .subquery()
    )
    rows = session.exec(
        select(CaseEvent.case_id, CaseEvent.seq, CaseEvent.entry_hash).join(
            last, (last.c.case_id == CaseEvent.case_id) & (last.c.seq == CaseEvent.seq)
        )
    )
    return {case_id: (seq, bytes.fromhex(entry)) for case_id, seq, entry in rows}


# --- measurements -----------------------------------------------------------------------------


@dataclass
class Costs:
    size: int
    proof_ms: list[float]
    checkpoint_ms: list[float]
    append_ms: list[float]


def timed(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return (time.perf_counter() - began) * 1000


def measure_at(engine: sa.Engine, cases: list[CaseRef], signer: Signer, size: int) -> Costs:
    with Session(engine) as session:
        current = log_size(session)
    seconds = bulk_build(engine, cases, size)
    built = size - current
    print(f"  bulk build: {built:,} events in {seconds:.1f} s ({built / seconds:,.0f} events/s)")
    rng = random.Random(size)

    def append_one() -> None:
        with Session(engine) as session:
            case = rng.choice(cases)
            append_event(
                session, case=case, type=EventType.note, actor="bench:append", payload={"n": 1}
            )
            session.commit()

    for _ in range(20):  # warm the connection pool and the caches
        append_one()
    append_ms = [timed(append_one) for _ in range(300)]

    checkpoint_ms = []
    with Session(engine) as session:
        for _ in range(20):
            append_one()  # a new size, so a new signature (same size returns the stored one)

            def checkpoint() -> None:
                sign_log_checkpoint(session, signer=signer, origin=ORIGIN)
                session.commit()

            checkpoint_ms.append(timed(checkpoint))
    # Proofs as the API serves them: a read-only transaction each (deferred BEGIN on SQLite).
    with Session(reading(engine)) as session:
        size_now = log_size(session)
        proof_ms = []
        for _ in range(500):
            index = rng.randrange(size_now)
            proof_ms.append(timed(lambda i=index: inclusion_proof(session, index=i, size=size_now)))
            session.rollback()
    return Costs(size_now, proof_ms, checkpoint_ms, append_ms)


def summary(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[int(len(values) * 0.95) - 1]
    return f"median {statistics.median(values):7.2f} ms   p95 {p95:7.2f} ms"


def report_costs(small: Costs, large: Costs) -> None:
    for label, attr in (
        ("inclusion proof (DB)", "proof_ms"),
        ("checkpoint (sign)", "checkpoint_ms"),
        ("append + commit", "append_ms"),
    ):
        for costs in (small, large):
            print(f"{label:22} at {costs.size:>9,} leaves: {summary(getattr(costs, attr))}")
    proof = statistics.median(large.proof_ms)
    checkpoint = statistics.median(large.checkpoint_ms)
    ratio = statistics.median(large.append_ms) / statistics.median(small.append_ms)
    print(f"  target: proof < 2 ms at 1M: {verdict(proof < 2)} ({proof:.2f} ms)")
    print(f"  target: checkpoint < 50 ms at 1M: {verdict(checkpoint < 50)} ({checkpoint:.2f} ms)")
    print(f"  target: append at N within 2x of 1k: {verdict(ratio <= 2)} ({ratio:.2f}x)")


def verification(engine: sa.Engine, signer: Signer, store: FileBlobStore) -> None:
    with Session(engine) as session:
        began, cpu_began = time.perf_counter(), time.process_time()
        report = verify_trail(session, verifier_key=signer.verifier_key, store=store)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        headers = [
            header.encode() for header in session.exec(select(CaseEvent.header)).yield_per(50_000)
        ]
    rate = report.events / seconds
    print(
        f"verify_trail: {report.events:,} events, {report.leaves:,} leaves in {seconds:.1f} s, "
        f"{report.processes} process{'es' if report.processes > 1 else ''}"
    )
    print("  " + "; ".join(report.lines()[:3]))
    print(f"  {rate:,.0f} events/s   target >= 100,000: {verdict(rate >= 100_000)}")
    # Not counted: verify_trail's other processes, and PostgreSQL's (on SQLite, reads are ours).
    print(f"  (this process used {cpu:.1f} s of CPU: {report.events / cpu:,.0f} events per CPU s)")
    # The floor: hashing the same header bytes once each, nothing else, in this process.
    sha256 = hashlib.sha256
    began = time.perf_counter()
    for header in headers:
        sha256(EVENT_DOMAIN + header).digest()
    seconds = time.perf_counter() - began
    volume = sum(map(len, headers)) / 1e6
    print(
        f"  raw SHA-256 of the {len(headers):,} headers: {len(headers) / seconds:,.0f} hashes/s "
        f"({volume / seconds:,.0f} MB/s); verify_trail does this plus payload commitments, "
        "leaf and node hashes, canonical-form checks and the reads"
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    main()
