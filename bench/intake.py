"""Benchmark of intake through the HTTP API (prints figures; asserts nothing).

    .venv/bin/python bench/intake.py [--single N] [--batch N] [--clients C] [--threads T]

Creates a fresh PostgreSQL database (PG_ADMIN_URL, default postgresql://127.0.0.1:5432/test),
migrates it, creates an API key and starts gunicorn (2 workers, gthread so connections are kept
alive) on a free localhost port. Client threads, each on its own keep-alive connection, post N
detections one per request (C threads), then N more in batches of 100 (--batch-clients threads,
default one per worker: batches queue on the log-head lock anyway). Beside them it prints the raw
insert rate of the same rows (copies of every row the API wrote: subject, case, report, and the
trail's event, payload, leaf and subtree hashes) through SQLAlchemy Core executemany in the same
database: what the database alone costs, without HTTP, validation, routing, grouping, priority,
hashing or the log-head lock. The database is dropped at the end.

Targets (issue 5): at least 300 detections/s single and 3,000/s in batches.
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cases.accounts.service import create_api_key  # noqa: E402
from cases.core import migrate  # noqa: E402
from cases.core.db import make_engine  # noqa: E402
from cases.enums import ApiScope  # noqa: E402
from cases.models import Case, Report, Subject  # noqa: E402
from cases.trail.models import (  # noqa: E402
    CaseEvent,
    EventPayload,
    LogHead,
    LogLeaf,
    LogNode,
)
from tests import pg_database  # noqa: E402
from workflows import ModerationCategory  # noqa: E402

BATCH_SIZE = 100
TIMEOUT = 600  # seconds: batches queue behind each other on the log-head lock
WORKERS = 2
# How often each category is the one detected (the rest are low scores), roughly as a chat
# product's classifier pipeline sees them; sexual/minors opens child-safety cases.
CATEGORY_WEIGHTS = {
    "harassment": 30,
    "hate": 12,
    "sexual": 15,
    "violence": 10,
    "self-harm": 6,
    "illicit": 10,
    "harassment/threatening": 5,
    "violence/graphic": 4,
    "illicit/violent": 3,
    "hate/threatening": 2,
    "self-harm/intent": 1,
    "self-harm/instructions": 1,
    "sexual/minors": 1,
}


def detection(rng: random.Random, subjects: int, serial: int) -> dict:
    """A realistic detection: an omni-moderation response with all 13 categories scored."""
    detected = rng.choices(list(CATEGORY_WEIGHTS), weights=list(CATEGORY_WEIGHTS.values()))[0]
    scores = {c.value: round(rng.uniform(0.0001, 0.05), 6) for c in ModerationCategory}
    scores[detected] = round(rng.uniform(0.55, 0.99), 6)
    return {
        "subject": {"type": "account", "id": f"user-{rng.randrange(subjects)}"},
        "source": {"name": "openai-moderation", "model": "omni-moderation-latest"},
        "moderation": {
            "id": f"modr-{serial}",
            "model": "omni-moderation-latest",
            "results": [
                {
                    "flagged": True,
                    "categories": {name: name == detected for name in scores},
                    "category_scores": scores,
                    "category_applied_input_types": {name: ["text"] for name in scores},
                }
            ],
        },
        "content": {"ref": f"msg-{serial}", "type": "chat_message", "excerpt": "…"},
        "occurred_at": "2026-03-01T12:00:00Z",
        "metadata": {"conversation": f"conv-{serial // 7}"},
    }


def bodies(rng: random.Random, count: int, per_request: int, first_serial: int) -> list[bytes]:
    """Request bodies, prepared before the clock starts; about one detection in four is about a
    subject already reported (it attaches to the open case)."""
    subjects = max(1, count * 3 // 4)
    items = [detection(rng, subjects, first_serial + n) for n in range(count)]
    if per_request == 1:
        return [json.dumps(item).encode() for item in items]
    return [
        json.dumps({"items": items[n : n + per_request]}).encode()
        for n in range(0, count, per_request)
    ]


# --- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(url: str, instance: Path, port: int, threads: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DOCKET_INSTANCE_PATH": str(instance),
        "SECRET_KEY": secrets.token_hex(32),
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers", str(WORKERS),
        "--worker-class", "gthread",
        "--threads", str(threads),
        "--bind", f"127.0.0.1:{port}",
        "--keep-alive", "30",
        "--log-level", "warning",
        *(["-c", os.environ["BENCH_GCONF"]] if os.environ.get("BENCH_GCONF") else []),
        "app:create_app()",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env)


def wait_until_up(port: int, key: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with status {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/v1/me", headers={"Authorization": f"Bearer {key}"})
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("gunicorn did not answer within 60 s")


# --- the client ----------------------------------------------------------------------------------


def post_all(port: int, key: str, path: str, payloads: list[bytes], clients: int) -> dict:
    """Post every payload from `clients` threads on keep-alive connections; wall time and the
    latency of each request."""
    pending = iter(enumerate(payloads))
    take = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        while True:
            with take:
                job = next(pending, None)
            if job is None:
                break
            _, body = job
            began = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                connection.close()  # reconnects on the next request
                continue
            latencies.append(time.perf_counter() - began)
            if response.status not in (201, 207):
                failures.append(f"{response.status} {answer[:200]!r}")
            elif response.status == 207:
                failures.extend(
                    json.dumps(r)[:200] for r in json.loads(answer)["results"] if r["status"] != 201
                )
        connection.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"seconds": time.perf_counter() - began, "latencies": latencies, "failures": failures}


def print_run(label: str, detections: int, run: dict) -> float:
    rate = detections / run["seconds"]
    latencies = sorted(run["latencies"])
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
    print(
        f"{label:<34} {detections:>7,} detections in {run['seconds']:6.2f} s = "
        f"{rate:8,.0f}/s   (per request p50 {p50:6.1f} ms, p95 {p95:6.1f} ms)"
    )
    for failure in run["failures"][:5]:
        print(f"    failed: {failure}")
    return rate


# --- raw inserts of the same rows ----------------------------------------------------------------

TABLES = (Subject, Case, Report, CaseEvent, EventPayload, LogLeaf, LogNode)


def api_rows(engine: sa.Engine) -> dict[type, list[dict]]:
    """Every row the API wrote (subjects, cases, reports and their trail rows), as plain values."""
    with engine.connect() as connection:
        return {
            model: [
                dict(row._mapping)
                for row in connection.execute(sa.select(model.__table__).order_by(
                    *model.__table__.primary_key.columns
                ))
            ]
            for model in TABLES
        }  # fmt: skip


def raw_insert_rate(
    engine: sa.Engine, rows: dict[type, list[dict]], *, per_transaction: int
) -> tuple[int, float]:
    """Insert copies of `rows`, `per_transaction` reports per transaction, each with its event,
    payload, leaf and the subtree hashes that leaf completes, and its case and subject when
    first seen; returns (reports, seconds). Copies get fresh keys and unique hashes."""
    with engine.connect() as connection:
        top = {
            model: connection.execute(sa.select(sa.func.max(column))).scalar() or 0
            for model, column in (
                (Subject, Subject.id), (Case, Case.id), (Report, Report.id),
                (CaseEvent, CaseEvent.id), (LogLeaf, LogLeaf.index),
            )
        }  # fmt: skip
    size = top[LogLeaf] + 1
    tag = f"raw{per_transaction}-"

    def fresh(digest: str) -> str:
        return hashlib.sha256((tag + digest).encode()).hexdigest()

    def copy(model: type, row: dict) -> dict:
        row = dict(row)
        if model is Subject:
            row |= {"id": row["id"] + top[Subject], "external_id": tag + row["external_id"]}
        elif model is Case:
            row |= {"id": row["id"] + top[Case], "subject_id": row["subject_id"] + top[Subject],
                    "reference": tag + row["reference"]}  # fmt: skip
        elif model is Report:
            row |= {"id": row["id"] + top[Report], "case_id": row["case_id"] + top[Case]}
        elif model is CaseEvent:
            row |= {"id": row["id"] + top[CaseEvent], "case_id": row["case_id"] + top[Case],
                    "log_index": row["log_index"] + size, "entry_hash": fresh(row["entry_hash"]),
                    "prev_hash": fresh(row["prev_hash"])}  # fmt: skip
        elif model is EventPayload:
            row |= {"event_id": row["event_id"] + top[CaseEvent]}
        elif model is LogLeaf:
            row |= {"index": row["index"] + size}
        else:
            row |= {"index": row["index"] + (size >> row["level"]) + 1}
        return row

    event_of_report = {
        json.loads(payload["payload"])["report_id"]: payload["event_id"]
        for payload in rows[EventPayload]
    }
    events = {row["id"]: row for row in rows[CaseEvent]}
    payloads = {row["event_id"]: row for row in rows[EventPayload]}
    leaves = {row["index"]: row for row in rows[LogLeaf]}
    # The subtree (level, index) is completed by leaf (index + 1) * 2^level - 1.
    nodes = defaultdict(list)
    for node in rows[LogNode]:
        nodes[((node["index"] + 1) << node["level"]) - 1].append(node)
    subjects = {row["id"]: row for row in rows[Subject]}
    cases = {row["id"]: row for row in rows[Case]}
    seen_subjects: set[int] = set()
    seen_cases: set[int] = set()
    chunks = []
    reports = rows[Report]
    for start in range(0, len(reports), per_transaction):
        chunk = defaultdict(list)
        for report in reports[start : start + per_transaction]:
            case = cases[report["case_id"]]
            if case["subject_id"] not in seen_subjects:
                seen_subjects.add(case["subject_id"])
                chunk[Subject].append(copy(Subject, subjects[case["subject_id"]]))
            if case["id"] not in seen_cases:
                seen_cases.add(case["id"])
                chunk[Case].append(copy(Case, case))
            chunk[Report].append(copy(Report, report))
            event = events[event_of_report[report["id"]]]
            chunk[CaseEvent].append(copy(CaseEvent, event))
            chunk[EventPayload].append(copy(EventPayload, payloads[event["id"]]))
            chunk[LogLeaf].append(copy(LogLeaf, leaves[event["log_index"]]))
            chunk[LogNode].extend(copy(LogNode, n) for n in nodes[event["log_index"]])
        chunks.append(chunk)
    began = time.perf_counter()
    for chunk in chunks:
        with engine.begin() as connection:
            for model in TABLES:
                if chunk[model]:
                    connection.execute(sa.insert(model.__table__), chunk[model])
    return len(reports), time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=1_000, help="detections sent one by one")
    parser.add_argument("--batch", type=int, default=5_000, help="detections sent in batches")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections, single")
    parser.add_argument(
        "--batch-clients", type=int, default=WORKERS, help="concurrent connections, batches"
    )
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument(
        "--admin-url", default=os.environ.get("PG_ADMIN_URL", "postgresql://127.0.0.1:5432/test")
    )
    args = parser.parse_args()

    name = f"docket_bench_{os.getpid()}"
    pg_database.main("create", args.admin_url, name)
    url = pg_database.database_url(args.admin_url, name)
    server = None
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        with Session(engine) as session:
            _, key = create_api_key(session, name="bench", scopes=[ApiScope.detections_write])
            session.commit()
        with engine.connect() as connection:
            version = connection.exec_driver_sql("SHOW server_version").scalar()
        print(f"PostgreSQL {version}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        print(
            f"gunicorn: {WORKERS} workers x {args.threads} threads (gthread, keep-alive); "
            f"client: {args.clients} threads (batches: {args.batch_clients}), "
            "one keep-alive connection each\n"
        )
        rng = random.Random(2026)
        single = bodies(rng, args.single, 1, 0)
        batches = bodies(rng, args.batch, BATCH_SIZE, args.single)

        with tempfile.TemporaryDirectory(prefix="docket-bench-") as instance:
            port = free_port()
            server = start_server(url, Path(instance), port, args.threads)
            wait_until_up(port, key, server)
            # Warm up both workers (imports, definitions, connection pools) off the clock.
            warm = bodies(random.Random(1), 40, 1, 10**9)
            post_all(port, key, "/api/v1/detections", warm, args.clients)
            single_rate = print_run(
                "HTTP, one detection per request",
                args.single,
                post_all(port, key, "/api/v1/detections", single, args.clients),
            )
            batch_rate = print_run(
                f"HTTP, batches of {BATCH_SIZE}",
                args.batch,
                post_all(port, key, "/api/v1/detections/batch", batches, args.batch_clients),
            )
            server.terminate()
            server.wait(timeout=30)
            server = None

        with Session(engine) as session:
            stored = session.exec(select(sa.func.count()).select_from(Report)).one()
            opened = session.exec(select(sa.func.count()).select_from(Case)).one()
            log = session.get(LogHead, 1).size
        print(f"\nstored: {stored:,} reports on {opened:,} cases; {log:,} trail events")

        print()
        raw_rates = {}
        written = api_rows(engine)
        for per_transaction in (1, BATCH_SIZE):
            rows, seconds = raw_insert_rate(engine, written, per_transaction=per_transaction)
            raw_rates[per_transaction] = rows / seconds
            label = (
                "raw Core inserts, one per transaction"
                if per_transaction == 1
                else f"raw Core executemany, {per_transaction} per transaction"
            )
            print(f"{label:<44} {rows:>7,} reports in {seconds:6.2f} s = {rows / seconds:8,.0f}/s")
        print(
            f"\nsingle: {single_rate:,.0f}/s (target 300/s) = "
            f"{single_rate / raw_rates[1]:.0%} of one-row raw inserts (sequential)"
        )
        print(
            f"batch:  {batch_rate:,.0f}/s (target 3,000/s) = "
            f"{batch_rate / raw_rates[BATCH_SIZE]:.0%} of raw executemany"
        )
        engine.dispose()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        pg_database.main("drop", args.admin_url, name)


if __name__ == "__main__":
    main()
