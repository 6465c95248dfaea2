"""Benchmark of the pure evidence-trail code (no database): prints figures, asserts nothing.

    .venv/bin/python bench/trail_pure.py [--events N] [--leaves N]

Targets (DESIGN section 4 and its brief): chain verification >= 100,000 events/s; at 1,000,000
leaves an inclusion proof in < 2 ms and a checkpoint (root from stored nodes + Ed25519
signature) in < 50 ms; appends that cost the same at a million leaves as at a thousand.
"""

import argparse
import hashlib
import random
import sys
import time
from collections.abc import Callable

from cases.trail import merkle
from cases.trail.events import (
    EVENT_DOMAIN,
    GENESIS,
    EventRecord,
    build_header,
    case_tag,
    check_stored_events,
    entry_hash,
    join_segments,
    new_salt,
    payload_commitment,
    verify_chain,
)
from cases.trail.signed_notes import Signer, generate_signer_key, sign_checkpoint

CASE = "DK-2026-000001"
AT = "2026-11-22T01:46:28.000123Z"
BLOB = hashlib.sha256(b"evidence").hexdigest()


def synthetic_chain(count: int) -> list[EventRecord]:
    """A realistic chain: every tenth event names a blob. Payload text is written canonical
    directly, since timing rfc8785 on payloads is not the point here."""
    records, prev = [], GENESIS
    for seq in range(1, count + 1):
        payload = b'{"note":"reviewed, no action","reviewer":%d}' % (seq % 97)
        salt = new_salt()
        header = build_header(
            case_ref=CASE,
            seq=seq,
            prev=prev,
            type="note_added",
            actor=f"user:{seq % 53}",
            at=AT,
            payload_commit=payload_commitment(salt, payload),
            blobs=[BLOB] if seq % 10 == 0 else [],
        )
        record = EventRecord(
            seq=seq,
            header=header,
            entry_hash=entry_hash(header),
            prev_hash=prev,
            payload=payload,
            salt=salt,
            log_index=None,
        )
        records.append(record)
        prev = record.entry_hash
    return records


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_chain(count: int) -> None:
    build = time.perf_counter()
    records = synthetic_chain(count)
    build = time.perf_counter() - build
    headers = [EVENT_DOMAIN + r.header for r in records]
    sha256 = hashlib.sha256

    def hash_only() -> None:
        for data in headers:
            sha256(data).digest()

    # The same chain as the database holds it, for the check trail verify runs on stored rows.
    tag = case_tag(CASE)
    rows = [
        (1, r.seq, r.header.decode(), r.entry_hash.hex(), r.prev_hash.hex(), r.payload.decode())
        + (r.salt.hex(), tag + r.entry_hash)
        for r in records
    ]

    def check_rows() -> None:
        segments, suspects = check_stored_events(rows)
        assert join_segments([segments], {1: CASE}, suspects)[1].count == count

    verify = min(timed(lambda: verify_chain(CASE, records)) for _ in range(2))
    stored = min(timed(check_rows) for _ in range(2))
    raw = min(timed(hash_only) for _ in range(2))
    mean = sum(map(len, headers)) / count
    print(f"chain of {count:,} events (mean header {mean:.0f} bytes)")
    print(f"  build_header + seal        {count / build:12,.0f} events/s")
    print(f"  verify_chain               {count / verify:12,.0f} events/s")
    print(f"  check_stored_events        {count / stored:12,.0f} events/s (rows as stored, leaves)")
    print(
        f"  raw sha256 of the headers  {count / raw:12,.0f} hashes/s "
        f"(verify_chain runs at {raw / verify:.0%} of raw hashing speed)"
    )


class Store:
    """An in-memory node store, filled only by append_leaf."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.border: list[bytes] = []
        self.size = 0

    def append(self, leaf: bytes) -> None:
        self.border, created = merkle.append_leaf(self.border, self.size, leaf)
        for level, index, value in created:
            self.nodes[(level, index)] = value
        self.size += 1

    def node(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]


def bench_log(sizes: list[int]) -> None:
    signer = Signer.from_key(generate_signer_key("bench.example/trail"))
    store, window = Store(), 1000
    leaves = (merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(max(sizes)))
    print("global log (in-memory node store built by append_leaf)")
    for size in sizes:
        while store.size < size - window:
            store.append(next(leaves))
        batch = [next(leaves) for _ in range(window)]
        append = time_appends(store.border, store.size, batch)
        for leaf in batch:
            store.append(leaf)
        proof, consistency, checkpoint = measure_at(store, signer)
        print(
            f"  {size:>9,} leaves: append_leaf {append * 1e6:6.2f} us   "
            f"inclusion proof {proof * 1e3:6.3f} ms   "
            f"consistency proof {consistency * 1e3:6.3f} ms   "
            f"checkpoint (root_at + sign) {checkpoint * 1e3:6.3f} ms"
        )


def time_appends(border: list[bytes], size: int, leaves: list[bytes]) -> float:
    """Mean seconds per append_leaf call (the store's dict writes left out)."""
    start = time.perf_counter()
    for leaf in leaves:
        border, _ = merkle.append_leaf(border, size, leaf)
        size += 1
    return (time.perf_counter() - start) / len(leaves)


def measure_at(store: Store, signer: Signer) -> tuple[float, float, float]:
    """Mean seconds per inclusion proof, consistency proof and signed checkpoint."""
    size = store.size
    rng = random.Random(size)
    indexes = [rng.randrange(size) for _ in range(1000)]
    olds = [rng.randrange(1, size) for _ in range(1000)]
    proof = timed(lambda: [merkle.inclusion_proof(i, size, store.node) for i in indexes])
    consistency = timed(lambda: [merkle.consistency_proof(m, size, store.node) for m in olds])

    def checkpoint() -> str:
        root = merkle.root_at(size, store.node)
        return sign_checkpoint(signer, origin="bench.example/trail", size=size, root=root)

    signing = min(timed(checkpoint) for _ in range(20))
    return proof / len(indexes), consistency / len(olds), signing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}")
    bench_chain(args.events)
    bench_log(sorted({1_000, args.leaves}))


if __name__ == "__main__":
    main()
