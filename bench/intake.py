"""Benchmark of intake through the HTTP API (prints figures; asserts nothing).

    .venv/bin/python bench/intake.py [--quick] [--single N] [--batch N] [--clients C] [--threads T]

Creates a fresh PostgreSQL database (PG_ADMIN_URL, default postgresql://127.0.0.1:5432/test),
migrates it, creates an API key and starts gunicorn (2 workers, gthread so connections are kept
alive) on a free localhost port. Client threads, each on its own keep-alive connection, post N
detections one per request (C threads), then N more in batches of 100 (--batch-clients threads,
default one per worker: batches queue on the log-head lock anyway). Beside them it prints the raw
insert rate of the same rows (copies of every row the API wrote: subject, case, report, and the
trail's event, payload, leaf and subtree hashes) through SQLAlchemy Core executemany in the same
database: what the database alone costs, without HTTP, validation, routing, grouping, priority,
hashing or the log-head lock. The database is dropped at the end.

It also prints, from the same run:
- the load average at the start: the targets hold on a quiet machine, not beside a test run;
- the database's own limit: one-row commits per second with 1 and 8 connections (`pgbench` with
  a one-INSERT script when installed, else a psycopg loop of autocommit INSERTs);
- the SQL statements one detection's request runs (the app in this process, a listener on its
  engine), opening a case and joining an open one (--show-statements lists them);
- concurrent case work: 8 clients, each on its own cases, fire `information_received` through
  the API for a few seconds (an admin first moves the cases to `awaiting_information` through
  the workflow engine, off the clock: integrations may fire only system transitions, and that
  is one).

Targets (issue 14): at least 300 detections/s one per request with p95 under 100 ms; batches at
at least 70 % of the raw executemany rate of the same rows; the statements per detection and
the rate of concurrent transitions printed, the latter before and after the trail's integrator
(ordinary case work should no longer queue on the log-head lock).
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from glob import glob
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlmodel import Session, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from cases.accounts.service import create_api_key, create_user  # noqa: E402
from cases.core import migrate  # noqa: E402
from cases.core.db import make_engine  # noqa: E402
from cases.decisions.service import fire_transition  # noqa: E402
from cases.enums import ApiScope  # noqa: E402
from cases.lifecycle.actors import Actor  # noqa: E402
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
SECRET_KEY = secrets.token_hex(32)  # one for the servers and the in-process app
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


def deployment_env(url: str, instance: Path, redis_url: str | None) -> dict[str, str]:
    """What the server and its worker share: the database, and with Redis a queue prefix of
    this run's own (the worker then integrates the log every second, off the request path)."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DOCKET_INSTANCE_PATH": str(instance),
        "SECRET_KEY": SECRET_KEY,
    }
    if redis_url:
        env |= {"REDIS_URL": redis_url, "FLASK_JOB_QUEUE_PREFIX": f"bench{os.getpid()}-"}
    return env


def start_server(env: dict[str, str], port: int, threads: int) -> subprocess.Popen:
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


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    """One `flask worker`: RQ jobs and the periodic tasks, the log integration among them."""
    flask = str(Path(sys.executable).parent / "flask")
    return subprocess.Popen(
        [flask, "--app", "app", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


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


def post_all(
    port: int, key: str, requests: list[tuple[str, bytes]], clients: int, *, seconds: float = 0
) -> dict:
    """Post every (path, body) from `clients` threads on keep-alive connections, or as many as
    `seconds` allow when given; wall time and the latency of each request."""
    pending = iter(requests)
    take = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    began = time.perf_counter()
    deadline = began + seconds if seconds else float("inf")

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        while time.perf_counter() < deadline:
            with take:
                job = next(pending, None)
            if job is None:
                break
            path, body = job
            sent = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                connection.close()  # reconnects on the next request
                continue
            latencies.append(time.perf_counter() - sent)
            if response.status not in (200, 201, 207):
                failures.append(f"{response.status} {answer[:200]!r}")
            elif response.status == 207:
                failures.extend(
                    json.dumps(r)[:200] for r in json.loads(answer)["results"] if r["status"] != 201
                )
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"seconds": time.perf_counter() - began, "latencies": latencies, "failures": failures}


def p95(latencies: list[float]) -> float:
    """The 95th percentile, in milliseconds."""
    ordered = sorted(latencies)
    return ordered[int(len(ordered) * 0.95) - 1] * 1000


def print_run(label: str, detections: int, run: dict) -> float:
    rate = detections / run["seconds"]
    p50 = statistics.median(run["latencies"]) * 1000
    print(
        f"{label:<34} {detections:>7,} detections in {run['seconds']:6.2f} s = "
        f"{rate:8,.0f}/s   (per request p50 {p50:6.1f} ms, p95 {p95(run['latencies']):6.1f} ms)"
    )
    for failure in run["failures"][:5]:
        print(f"    failed: {failure}")
    return rate


# --- the database's own limit: one-row commits ---------------------------------------------------

COMMIT_TABLE = "bench_commit"
COMMIT_INSERT = f"INSERT INTO {COMMIT_TABLE} DEFAULT VALUES"


def pgbench_binary() -> str | None:
    """pgbench on PATH, else the newest in a PostgreSQL version's directory, else None."""
    if found := shutil.which("pgbench"):
        return found
    installed = glob("/usr/lib/postgresql/*/bin/pgbench")
    return max(installed, key=lambda p: [int(n) for n in p.split("/")[4].split(".")], default=None)


def pgbench_rate(binary: str, url: str, connections: int, seconds: int) -> float:
    """Transactions per second of `pgbench` running the one-INSERT script."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(COMMIT_INSERT + ";\n")
        script.flush()
        command = [
            binary, "-n", "-f", script.name, "-c", str(connections),
            "-j", str(min(connections, 2)), "-T", str(seconds), url,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"pgbench failed: {done.stderr.strip()}")
    return float(re.search(r"^tps = ([\d.]+)", done.stdout, re.MULTILINE).group(1))


def psycopg_rate(url: str, connections: int, seconds: int) -> float:
    """One-row autocommit INSERTs per second from `connections` threads, each on its own
    connection (what pgbench measures, when it is not installed)."""
    counts = [0] * connections
    ready = threading.Barrier(connections + 1)
    stop = threading.Event()

    def insert(slot: int) -> None:
        with psycopg.connect(url, autocommit=True) as connection:
            ready.wait()
            while not stop.is_set():
                connection.execute(COMMIT_INSERT)
                counts[slot] += 1

    threads = [threading.Thread(target=insert, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    ready.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - began)


def commit_rates(url: str, seconds: int) -> tuple[dict[int, float], str]:
    """One-row commits per second with 1 and 8 connections, and what measured them."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE {COMMIT_TABLE} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "at timestamptz NOT NULL DEFAULT now())"
        )
    try:
        if binary := pgbench_binary():
            return {c: pgbench_rate(binary, url, c, seconds) for c in (1, 8)}, "pgbench"
        return {c: psycopg_rate(url, c, seconds) for c in (1, 8)}, "psycopg, no pgbench found"
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"DROP TABLE {COMMIT_TABLE}")


# --- statements per detection --------------------------------------------------------------------


def statement_kinds(statements: list[str]) -> str:
    """'3 SELECT, 5 INSERT, 1 UPDATE': the statements counted by their first keyword."""
    kinds = Counter(statement.split(None, 1)[0].upper() for statement in statements)
    return ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())


def in_process_app(url: str, instance: Path, redis_url: str | None):
    """The app as gunicorn builds it, in this process (its jobs go to the same queues)."""
    return create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": SECRET_KEY,
            "REDIS_URL": redis_url,
            "JOB_QUEUE_PREFIX": f"bench{os.getpid()}-",
        }
    )


def statements_per_detection(
    url: str, key: str, instance: Path, show: bool, redis_url: str | None
) -> str:
    """The SQL statements one detection's request runs, opening a case and then joining it,
    seen by a listener on the engine of the app built in this process as gunicorn builds it
    (with Redis, as the servers run: integration is the worker's, not the request's)."""
    app = in_process_app(url, instance, redis_url)
    engine = app.extensions["docket.db"]
    statements: list[str] = []
    commits: list[None] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def on_statement(_connection, _cursor, statement, *_) -> None:
        statements.append(statement)

    @sa.event.listens_for(engine, "commit")
    def on_commit(_connection) -> None:
        commits.append(None)

    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    # Not a child-safety detection: the count is for the standard workflow most cases follow.
    rng = random.Random(5)
    item = detection(rng, 1, 0)
    while item["moderation"]["results"][0]["categories"]["sexual/minors"]:
        item = detection(rng, 1, 0)

    def post(subject: str, serial: int, show: bool = show) -> str:
        statements.clear()
        commits.clear()
        body = item | {"subject": {"type": "account", "id": subject}}
        body["moderation"] = body["moderation"] | {"id": f"modr-statements-{serial}"}
        response = client.post("/api/v1/detections", json=body, headers=headers)
        if response.status_code != 201:
            sys.exit(f"statements: {response.status_code} {response.get_data(as_text=True)[:300]}")
        path = "opening a case" if response.get_json()["case"]["opened"] else "joining its case"
        if show:
            print(f"  {path}:")
            for statement in statements:
                print("    " + " ".join(statement.split())[:160])
        return f"{len(statements)} ({statement_kinds(statements)}; {len(commits)} commit) {path}"

    # Off the count: loading definitions, filling caches and the connection pool.
    post("statements-warm-up", 0, show=False)
    opening = post("statements-subject", 1)
    joining = post("statements-subject", 2)
    engine.dispose()
    return f"statements per detection: {opening}; {joining}"


# --- concurrent case transitions -----------------------------------------------------------------

PREPARE_TRANSITIONS = [
    ("start_triage", {}),
    ("request_information", {"question": "When did this happen?"}),
]
TRANSITION = json.dumps(
    {"transition": "information_received", "fields": {"answer": "At 3 pm, in #general."}}
).encode()


def fresh_subject_batches(rng: random.Random, count: int, first_serial: int) -> list[bytes]:
    """Batches of detections each about a subject of its own: each opens a case."""
    items = []
    for n in range(count):
        item = detection(rng, 1, first_serial + n)
        item["subject"]["id"] = f"transitions-{first_serial + n}"
        items.append(item)
    return [
        json.dumps({"items": items[n : n + BATCH_SIZE]}).encode()
        for n in range(0, count, BATCH_SIZE)
    ]


def new_standard_cases() -> sa.Select:
    """The ids of the cases an integration can see that no one has touched yet."""
    table = Case.__table__
    return sa.select(table.c.id).where(
        table.c.workflow_name == "standard", table.c.state == "new", ~table.c.restricted
    )


def awaiting_information(app, count: int) -> list[str]:
    """References of up to `count` new standard cases, each moved by an admin through
    `start_triage` and `request_information` (the workflow engine and the trail, as the case
    page does), so that an integration may fire `information_received` on each."""
    table = Case.__table__
    with app.app_context(), Session(app.extensions["docket.db"]) as session:
        admin = create_user(
            session,
            email="bench-admin@docket.example",
            password=secrets.token_hex(16),
            role="admin",
        )
        session.commit()
        actor = Actor.staff(admin)
        ids = session.execute(new_standard_cases().order_by(table.c.id).limit(count)).scalars()
        ids = list(ids)
        references = []
        for first in range(0, len(ids), BATCH_SIZE):
            chosen = select(Case).where(Case.id.in_(ids[first : first + BATCH_SIZE]))
            for case in session.exec(chosen):
                for transition, fields in PREPARE_TRANSITIONS:
                    fire_transition(
                        session, case=case, transition=transition, actor=actor, fields=fields
                    )
                references.append(case.reference)
            session.commit()
    app.extensions["docket.db"].dispose()
    return references


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
    payload, leaf and the subtree hashes that leaf completes (if integrated), and its case and
    subject when first seen; returns (reports, seconds). Copies get fresh keys and unique hashes."""
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
                    "log_index": None if row["log_index"] is None else row["log_index"] + size,
                    "entry_hash": fresh(row["entry_hash"]),
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
            if event["log_index"] is not None:  # else still pending integration, as written
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
    parser.add_argument(
        "--quick", action="store_true", help="smaller runs (about a minute), for a first look"
    )
    parser.add_argument("--single", type=int, help="detections sent one by one (1,000; quick 300)")
    parser.add_argument("--batch", type=int, help="detections sent in batches (5,000; quick 1,000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections, single")
    parser.add_argument(
        "--batch-clients", type=int, default=WORKERS, help="concurrent connections, batches"
    )
    parser.add_argument(
        "--transition-clients", type=int, default=8, help="concurrent connections, transitions"
    )
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for a `flask worker` that integrates the log every second, as in production; "
        "'' runs without Redis: integration right after each request's commit",
    )
    parser.add_argument(
        "--seconds", type=int, help="length of each commit-rate and transitions run (5; quick 2)"
    )
    parser.add_argument(
        "--show-statements", action="store_true", help="list the statements of one detection"
    )
    parser.add_argument(
        "--admin-url", default=os.environ.get("PG_ADMIN_URL", "postgresql://127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    single_count = args.single or (300 if args.quick else 1_000)
    batch_count = args.batch or (1_000 if args.quick else 5_000)
    seconds = args.seconds or (2 if args.quick else 5)
    # Enough cases that the transitions run ends on its clock, even at 500 transitions/s.
    transition_cases = seconds * 500

    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    name = f"docket_bench_{os.getpid()}"
    pg_database.main("create", args.admin_url, name)
    url = pg_database.database_url(args.admin_url, name)
    running: list[subprocess.Popen] = []
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        with Session(engine) as session:
            _, key = create_api_key(
                session, name="bench", scopes=[ApiScope.detections_write, ApiScope.cases_write]
            )
            session.commit()
        with engine.connect() as connection:
            version = connection.exec_driver_sql("SHOW server_version").scalar()
        print(f"PostgreSQL {version}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        print(f"load average at the start: {load} (1, 5, 15 min)")
        print(
            f"gunicorn: {WORKERS} workers x {args.threads} threads (gthread, keep-alive); "
            f"client: {args.clients} threads (batches: {args.batch_clients}, transitions: "
            f"{args.transition_clients}), one keep-alive connection each"
        )
        print(
            "log integration: "
            + (
                "every second by one `flask worker` (Redis), off the request path\n"
                if args.redis_url
                else "right after each request's commit (no Redis)\n"
            )
        )
        rng = random.Random(2026)
        single = [("/api/v1/detections", b) for b in bodies(rng, single_count, 1, 0)]
        batches = [
            ("/api/v1/detections/batch", b)
            for b in bodies(rng, batch_count, BATCH_SIZE, single_count)
        ]
        commits, commits_by = commit_rates(url, seconds)

        with tempfile.TemporaryDirectory(prefix="docket-bench-") as instance:
            statements = statements_per_detection(
                url, key, Path(instance) / "statements", args.show_statements, args.redis_url
            )
            port = free_port()
            env = deployment_env(url, Path(instance), args.redis_url or None)
            server = start_server(env, port, args.threads)
            running.append(server)
            if args.redis_url:
                running.append(start_worker(env))
            wait_until_up(port, key, server)
            # Warm up both workers (imports, definitions, connection pools) off the clock.
            warm = bodies(random.Random(1), 40, 1, 10**9)
            post_all(port, key, [("/api/v1/detections", b) for b in warm], args.clients)
            single_run = post_all(port, key, single, args.clients)
            single_rate = print_run("HTTP, one detection per request", single_count, single_run)
            batch_rate = print_run(
                f"HTTP, batches of {BATCH_SIZE}",
                batch_count,
                post_all(port, key, batches, args.batch_clients),
            )
            lag = integration_lag(engine)
            with Session(engine) as session:
                stored = session.exec(select(sa.func.count()).select_from(Report)).one()
                opened = session.exec(select(sa.func.count()).select_from(Case)).one()
                log = session.get(LogHead, 1).size
            written = api_rows(engine)  # before the transitions' events join them

            # Off the clock: cases of their own subjects until there are enough to transition
            # (a few more than missing: about one in a hundred is a child-safety case).
            with engine.connect() as connection:
                ready = connection.execute(
                    sa.select(sa.func.count()).select_from(new_standard_cases().subquery())
                ).scalar()
            missing = max(0, transition_cases - ready) * 102 // 100
            fresh = fresh_subject_batches(random.Random(7), missing, 2 * 10**9)
            post_all(port, key, [("/api/v1/detections/batch", b) for b in fresh], WORKERS)
            references = awaiting_information(
                in_process_app(url, Path(instance) / "setup", args.redis_url or None),
                transition_cases,
            )
            transitions = post_all(
                port,
                key,
                [(f"/api/v1/cases/{ref}/transitions", TRANSITION) for ref in references],
                args.transition_clients,
                seconds=seconds,
            )
            for failure in transitions["failures"][:5]:
                print(f"    transition failed: {failure}")
            stop(running)

        print(f"\nstored: {stored:,} reports on {opened:,} cases; {log:,} trail events in the log")
        print(lag)

        print()
        raw_rates = {}
        for per_transaction in (1, BATCH_SIZE):
            rows, seconds_taken = raw_insert_rate(engine, written, per_transaction=per_transaction)
            raw_rates[per_transaction] = rows / seconds_taken
            label = (
                "raw Core inserts, one per transaction"
                if per_transaction == 1
                else f"raw Core executemany, {per_transaction} per transaction"
            )
            print(
                f"{label:<44} {rows:>7,} reports in {seconds_taken:6.2f} s = "
                f"{rows / seconds_taken:8,.0f}/s"
            )
        print(
            f"\nsingle: {single_rate:,.0f}/s (target 300/s) = "
            f"{single_rate / raw_rates[1]:.0%} of one-row raw inserts (sequential)"
        )
        print(
            f"batch:  {batch_rate:,.0f}/s (target 70%) = "
            f"{batch_rate / raw_rates[BATCH_SIZE]:.0%} of raw executemany"
        )
        print(statements)
        print(
            f"commit rate: {commits[1]:,.0f}/s with 1 connection, {commits[8]:,.0f}/s with 8 "
            f"connections ({commits_by}); single = {single_rate / commits[8]:.0%} of the latter"
        )
        done = len(transitions["latencies"])
        print(
            f"transitions: {done / transitions['seconds']:,.0f}/s with "
            f"{args.transition_clients} clients on different cases "
            f"(p95 {p95(transitions['latencies']):.1f} ms; "
            f"{done:,} in {transitions['seconds']:.1f} s)"
        )
        engine.dispose()
    finally:
        stop(running)
        pg_database.main("drop", args.admin_url, name)


def stop(processes: list[subprocess.Popen]) -> None:
    while processes:
        process = processes.pop()
        process.terminate()
        process.wait(timeout=30)


def integration_lag(engine: sa.Engine) -> str:
    """How many events the last request left pending, and how long until none was."""
    pending = sa.text("SELECT count(*) FROM case_event WHERE log_index IS NULL")
    began = time.perf_counter()
    with engine.connect() as connection:
        left = first = connection.execute(pending).scalar()
        while left and time.perf_counter() - began < 60:
            time.sleep(0.05)
            left = connection.execute(pending).scalar()
            connection.rollback()
    waited = time.perf_counter() - began
    if left:
        return f"integration: {left:,} events still pending 60 s after the last request"
    return (
        f"integration: {first:,} events pending after the last request, "
        f"all integrated {waited:.2f} s later"
    )


if __name__ == "__main__":
    main()
