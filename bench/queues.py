"""Benchmark of the queue pages at scale (prints figures; asserts nothing).

    .venv/bin/python bench/queues.py [--cases N] [--samples S] [--keep DIR]

Bulk-loads N cases (default 1,000,000) spread as a working deployment's are: most closed or
waiting out their appeal window, the rest across the five queues, priority bands, SLA states,
policy clauses and assignees, each with a report (one in ten with two) from a realistic mix of
sources. Runs on a SQLite file in a temporary folder (or DIR, kept for reuse with --keep), or on
DATABASE_URL if set (a new or empty PostgreSQL database: the bench refuses one that has cases).

Rows are written with SQLAlchemy Core executemany on SQLite and COPY on PostgreSQL, after the
real migrations (indexes, full-text triggers). Then each page is requested through the Flask test
client as a signed-in reviewer, the whole stack included (routing, session, query, template):
the overview with its counts, a queue's first page, a keyset page deep in the queue, filtered
pages, the SLA sort first and deep, a search, and the case page if `cases.detail` exists.

Target (issue 5): p95 under 100 ms at 1,000,000 cases.
"""

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app  # noqa: E402
from cases.core import migrate  # noqa: E402
from cases.core.security import hash_password  # noqa: E402
from cases.core.sqltypes import utcnow  # noqa: E402
from cases.enums import EventType, ReportSource, Role  # noqa: E402
from cases.intake.priority import BANDS  # noqa: E402
from cases.lifecycle.deployed import definitions, register_definition  # noqa: E402
from cases.models import Case, Report, Subject, User  # noqa: E402
from cases.review.queues import Position, SortOrder, encode_cursor  # noqa: E402
from cases.trail.store import NewEvent, append_events  # noqa: E402
from workflows import sla_hours  # noqa: E402

CHUNK = 20_000
PASSWORD = "bench password, not a secret"
TARGET_MS = 100
STAFF = {Role.reviewer: 40, Role.lead: 4, Role.child_safety: 6, Role.admin: 2, Role.auditor: 2}
# State weights, per thousand cases of each workflow: a year of work, most of it finished.
STANDARD_STATES = {
    "new": 70,
    "triage": 110,
    "awaiting_information": 15,
    "escalated": 15,
    "enforcement": 50,
    "enforced": 160,
    "dismissed": 150,
    "appeal": 10,
    "appeal_review": 10,
    "upheld": 4,
    "partially_reversed": 3,
    "reversed": 3,
    "closed": 400,
}
CHILD_SAFETY_STATES = {
    "new": 150,
    "assessment": 150,
    "report_drafted": 60,
    "report_submitted": 40,
    "reported": 60,
    "no_report": 40,
    "closed": 500,
}
CHILD_SAFETY_SHARE = 0.02
SOURCES = {
    ReportSource.classifier: 55,
    ReportSource.user_report: 35,
    ReportSource.provider_notice: 5,
    ReportSource.internal: 5,
}
WORDS = [
    "phishing",
    "scam",
    "fraud",
    "bank",
    "password",
    "harassment",
    "threat",
    "stalking",
    "dossier",
    "spam",
    "malware",
    "crypto",
    "giveaway",
    "impersonation",
    "deepfake",
    "election",
    "weapons",
    "drugs",
    "gambling",
    "extortion",
    "doxxing",
    "chatbot",
    "assistant",
    "prompt",
    "jailbreak",
    "roleplay",
    "account",
    "payment",
    "refund",
    "support",
    "generated",
    "messages",
    "emails",
    "voice",
    "clone",
    "fake",
    "reviews",
    "followers",
    "coordinated",
    "campaign",
    "bot",
    "network",
    "scraping",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200, help="requests per measured page")
    parser.add_argument("--keep", type=Path, help="SQLite folder to keep and reuse between runs")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docket-bench-queues-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{folder / 'queues.db'}"
        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": str(folder / "instance"),
                "SECRET_KEY": "bench",
                "RATELIMIT_ENABLED": False,
                "REDIS_URL": None,
            }
        )
        engine = app.extensions["docket.db"]
        print(
            f"database: {engine.dialect.name} ({engine.url.render_as_string(hide_password=True)})"
        )
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        migrate.upgrade(engine)
        with app.app_context():
            present = _case_count(engine)
            if present not in (0, args.cases):
                sys.exit(f"the database holds {present:,} cases: give the bench one of its own")
            if present == 0:
                load(engine, args.cases, random.Random(args.seed))
            else:
                print(f"reusing the {present:,} cases already loaded")
            measure(app, engine, args.samples, random.Random(args.seed + 1))


def _case_count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one()


# --- bulk load --------------------------------------------------------------------------------


def load(engine: sa.Engine, count: int, rnd: random.Random) -> None:
    began = time.perf_counter()
    now = utcnow()
    staff = _staff(engine)
    with Session(engine) as session:
        for workflow in definitions().workflows.values():
            register_definition(session, workflow)
        session.commit()
    subjects = max(1, int(count * 0.85))  # some subjects have earlier cases
    _copy(engine, Subject.__table__, _subject_rows(subjects))
    reviewers = [u for u, role in staff if role == Role.reviewer]
    specialists = [u for u, role in staff if role == Role.child_safety]
    _copy(engine, Case.__table__, _case_rows(count, subjects, reviewers, specialists, now, rnd))
    _copy(engine, Report.__table__, _report_rows(count, now, rnd))
    loaded = time.perf_counter() - began
    print(
        f"loaded {count:,} cases, {subjects:,} subjects and their reports in {loaded:.0f} s "
        f"({count / loaded:,.0f} cases/s)"
    )
    if _postgres(engine):
        # What autovacuum would have done by now: statistics, and the visibility map that lets
        # counts read only the index.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
        print(f"VACUUM ANALYZE in {time.perf_counter() - began - loaded:.0f} s")
    else:
        print("SQLite left without ANALYZE statistics, as a new deployment is")


def _postgres(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _staff(engine: sa.Engine) -> list[tuple[int, Role]]:
    password = hash_password(PASSWORD)
    rows = [
        {
            "email": f"{role.value.replace('_', '-')}{n}@bench.example",
            "name": f"Bench {role.value} {n}",
            "password_hash": password,
            "role": role.value,
            "active": True,
            "created_at": utcnow(),
        }
        for role, how_many in STAFF.items()
        for n in range(how_many)
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(User.__table__), rows)
        return [
            (user_id, Role(role))
            for user_id, role in connection.execute(sa.select(User.id, User.role))
        ]


def _copy(engine: sa.Engine, table: sa.Table, rows: Iterator[dict]) -> None:
    """Write rows in chunks, straight to the driver (COPY on PostgreSQL, executemany on SQLite),
    with the table's secondary indexes and triggers set aside and rebuilt once at the end, as any
    bulk load does. The rebuilt ones are exactly those the migrations created."""
    began, written = time.perf_counter(), 0
    with _indexes_set_aside(engine, table):
        raw = engine.raw_connection()
        try:
            while chunk := [row for _, row in zip(range(CHUNK), rows, strict=False)]:
                columns = list(chunk[0])
                if _postgres(engine):
                    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
                    with raw.cursor() as cursor, cursor.copy(statement) as copy:
                        for row in chunk:
                            copy.write_row([_plain(row[c], engine) for c in columns])
                else:
                    cursor = raw.cursor()
                    cursor.execute("BEGIN")
                    cursor.executemany(
                        f"INSERT INTO {table.name} ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' for _ in columns)})",
                        [[_plain(row[c], engine) for c in columns] for row in chunk],
                    )
                raw.commit()
                written += len(chunk)
        finally:
            raw.close()
        loaded = time.perf_counter() - began
    print(
        f"  {table.name}: {written:,} rows in {loaded:.1f} s, its indexes rebuilt in "
        f"{time.perf_counter() - began - loaded:.1f} s"
    )


def _plain(value, engine: sa.Engine):
    """A value as the driver takes it (what the column types would have bound)."""
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, datetime) and not _postgres(engine):
        # SQLAlchemy's SQLite DATETIME storage: naive UTC, always with microseconds.
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


@contextmanager
def _indexes_set_aside(engine: sa.Engine, table: sa.Table) -> Iterator[None]:
    if _postgres(engine):
        # Indexes backing a constraint (primary key, UNIQUE) stay; the others go and come back.
        listing = (
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :table AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint WHERE conname = indexname)"
        )
        drop = "DROP INDEX {}"
    else:
        listing = (
            "SELECT name, sql FROM sqlite_master WHERE tbl_name = :table AND sql IS NOT NULL "
            "AND type IN ('index', 'trigger') ORDER BY type"
        )
        drop = "DROP {kind} {name}"
    with engine.begin() as connection:
        saved = connection.execute(sa.text(listing), {"table": table.name}).all()
        for name, sql in saved:
            kind = "TRIGGER" if sql.upper().startswith("CREATE TRIGGER") else "INDEX"
            connection.exec_driver_sql(drop.format(name, kind=kind, name=name))
    yield
    with engine.begin() as connection:
        for _, sql in saved:
            connection.exec_driver_sql(sql)
        if table.name == "report" and not _postgres(engine):
            # Rows loaded while its triggers were away: index them all at once.
            connection.exec_driver_sql("INSERT INTO report_fts (report_fts) VALUES ('rebuild')")


def _subject_rows(count: int) -> Iterator[dict]:
    created = utcnow() - timedelta(days=400)
    for n in range(1, count + 1):
        yield {
            "kind": "account",
            "external_id": f"acct-{n:07d}",
            "display": f"user {n}",
            "created_at": created,
        }


def _weighted(rnd: random.Random, weights: dict) -> Iterator:
    names, cumulative = list(weights), []
    total = 0
    for name in names:
        total += weights[name]
        cumulative.append(total)
    while True:
        yield rnd.choices(names, cum_weights=cumulative, k=1)[0]


def _case_rows(
    count: int,
    subjects: int,
    reviewers: list[int],
    specialists: list[int],
    now: datetime,
    rnd: random.Random,
) -> Iterator[dict]:
    workflows = definitions().workflows
    standard, child_safety = workflows["standard"], workflows["child_safety"]
    policy = definitions().policy
    clauses = {
        name: [c for c in policy.clauses if c.workflow == name]
        for name in ("standard", "child_safety")
    }
    standard_states = _weighted(rnd, STANDARD_STATES)
    child_states = _weighted(rnd, CHILD_SAFETY_STATES)
    for n in range(1, count + 1):
        workflow = child_safety if rnd.random() < CHILD_SAFETY_SHARE else standard
        state = workflow.states[next(child_states if workflow is child_safety else standard_states)]
        clause = rnd.choice(clauses[workflow.name])
        # A score as intake gives it: severity, source, reporters, prior cases, a little age.
        score = {1: 400, 2: 300, 3: 200, 4: 100}[clause.severity] + int(rnd.triangular(0, 300, 40))
        band = next((band for floor, band in BANDS if score >= floor), "p4")
        opened = now - timedelta(minutes=rnd.randint(5, 365 * 24 * 60))
        waiting = state.waits_on_user
        hours = sla_hours(workflow, state.name, band)
        due = None
        if hours is not None and not waiting:
            # Entered the state some time ago: a fifth are overdue, many are due within hours.
            due = now + timedelta(minutes=rnd.randint(-hours * 30, hours * 60))
        # Forty reviewers hold a few dozen claims each; the rest of each queue waits.
        claimed = state.queue is not None and rnd.random() < 0.01
        workers = specialists if workflow is child_safety else reviewers
        yield {
            "reference": f"DK-{opened.year}-{n:07d}",
            "subject_id": rnd.randint(1, subjects),
            "workflow_name": workflow.name,
            "workflow_version": workflow.version,
            "workflow_digest": workflow.digest,
            "state": state.name,
            "stage": state.stage.value,
            "queue": state.queue,
            "policy_clause": clause.id,
            "severity": clause.severity,
            "priority": score,
            "priority_band": band,
            "restricted": workflow.restricted,
            "report_count": _reports_of(n),
            "reporter_count": _reports_of(n),
            "assignee_id": rnd.choice(workers) if claimed else None,
            # One claim in five has lapsed: back in play, as the queue shows it.
            "claim_expires_at": now + timedelta(minutes=rnd.randint(-60, 120)) if claimed else None,
            "sla_due_at": due,
            "sla_paused_at": now - timedelta(hours=rnd.randint(1, 72)) if waiting else None,
            "sla_remaining_seconds": rnd.randint(600, 86_400) if waiting else None,
            "sla_breached": due is not None and due <= now and rnd.random() < 0.8,
            "opened_at": opened,
            "updated_at": opened,
            "intake_at": opened,
        }


def _reports_of(case_id: int) -> int:
    return 2 if case_id % 10 == 0 else 1


def _report_rows(count: int, now: datetime, rnd: random.Random) -> Iterator[dict]:
    sources = _weighted(rnd, SOURCES)
    for case_id in range(1, count + 1):
        for extra in range(_reports_of(case_id)):
            source = next(sources)
            explanation = " ".join(rnd.choices(WORDS, k=rnd.randint(8, 30)))
            yield {
                "case_id": case_id,
                "source": source.value,
                "source_name": "moderation-pipeline" if source == ReportSource.classifier else None,
                "location": f"https://chat.example.com/c/{case_id}-{extra}",
                "explanation": explanation if source != ReportSource.classifier else None,
                "reporter_key": f"report:{case_id}:{extra}",
                "moderation_scores": (
                    {"harassment": rnd.randint(0, 10_000)}
                    if source == ReportSource.classifier
                    else {}
                ),
                "good_faith": source == ReportSource.user_report,
                "lacks_notice_contact": False,
                "raw_payload": "{}",
                "payload_sha256": "0" * 64,
                "received_at": now - timedelta(minutes=rnd.randint(5, 365 * 24 * 60)),
            }


# --- measurement -----------------------------------------------------------------------------


def measure(app, engine: sa.Engine, samples: int, rnd: random.Random) -> None:
    client = app.test_client()
    with engine.connect() as connection:
        reviewer = connection.execute(
            sa.select(User.email).where(User.role == Role.reviewer).limit(1)
        ).scalar_one()
    _login(client, reviewer)
    pages = {
        "overview with counts": "/queues",
        "triage, first page": "/queues/triage",
        "triage, deep keyset page": _deep_page(engine, "triage", SortOrder.priority, 0.9),
        "triage, filtered: p1, classifier, unassigned": "/queues/triage?"
        + urlencode({"band": "p1", "source": "classifier", "assignee": "unassigned"}),
        "triage, filtered: category, breached SLA": "/queues/triage?"
        + urlencode({"category": "protect", "sla": "breached"}),
        "triage, filtered: assigned to me": "/queues/triage?assignee=me",
        "triage, sorted by SLA": "/queues/triage?sort=sla",
        "triage, sorted by SLA, deep page": _deep_page(engine, "triage", SortOrder.sla, 0.9),
        "enforcement, oldest first": "/queues/enforcement?sort=oldest",
        "search: a reference": "/search?q=" + _some_reference(engine),
        "search: two words": "/search?" + urlencode({"q": "phishing password"}),
    }
    in_queues = _sample_cases(engine, rnd, 50)
    case_page = "cases.detail" in app.view_functions
    if case_page:
        _give_history(app, engine, in_queues)
    queue_count = _queue_sizes(engine)
    print(f"queues: {', '.join(f'{name} {n:,}' for name, n in queue_count.items())}")
    print(f"{samples} requests per page after 5 warm-up requests; times in ms\n")
    print(f"{'page':52} {'p50':>7} {'p95':>7} {'max':>7}  target")
    for label, url in pages.items():
        _report(label, _time_requests(client, [url], samples))
    if case_page:
        urls = [f"/cases/{reference}" for _, reference in in_queues]
        _report(
            "case page (50 cases in queues, with history)", _time_requests(client, urls, samples)
        )
    else:
        print("case page: the `cases.detail` endpoint does not exist in this build")


def _login(client, email: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, "the bench reviewer could not sign in"


def _deep_page(engine: sa.Engine, queue: str, sort: SortOrder, depth: float) -> str:
    """A page `depth` of the way down the queue, as a reviewer paging through it would reach."""
    column = {SortOrder.priority: Case.priority, SortOrder.sla: Case.sla_due_at}[sort]
    order = [column.desc() if sort == SortOrder.priority else column.asc(), Case.id]
    visible = sa.and_(Case.queue == queue, Case.restricted.is_(False), column.is_not(None))
    with engine.connect() as connection:
        size = connection.execute(sa.select(sa.func.count()).where(visible)).scalar_one()
        # OFFSET only here, once, to find the cursor; the page itself is a keyset read.
        value, case_id = connection.execute(
            sa.select(column, Case.id)
            .where(visible)
            .order_by(*order)
            .offset(int(size * depth))
            .limit(1)
        ).one()
    cursor = encode_cursor(sort, Position(value, case_id))
    return f"/queues/{queue}?" + urlencode({"sort": sort.value, "after": cursor})


def _some_reference(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(Case.reference).where(Case.restricted.is_(False)).limit(1).offset(12_345)
        ).scalar_one()


def _sample_cases(engine: sa.Engine, rnd: random.Random, count: int) -> list[tuple[int, str]]:
    with engine.connect() as connection:
        top = connection.execute(sa.select(sa.func.max(Case.id))).scalar_one()
        found: list[tuple[int, str]] = []
        while len(found) < count:
            row = connection.execute(
                sa.select(Case.id, Case.reference).where(
                    Case.id >= rnd.randint(1, top),
                    Case.queue.is_not(None),
                    Case.restricted.is_(False),
                )
            ).first()
            if row is not None:
                found.append(tuple(row))
    return found


def _give_history(app, engine: sa.Engine, cases: list[tuple[int, str]]) -> None:
    """A few trail events for each sampled case, through the real append path."""
    with app.app_context(), Session(engine) as session:
        events = []
        for case_id, reference in cases:
            case = SimpleNamespace(id=case_id, reference=reference)
            events += [
                NewEvent(case, EventType.intake, "system:intake", {"source": "classifier"}),
                NewEvent(
                    case, EventType.report_attached, "system:intake", {"source": "user_report"}
                ),
                NewEvent(case, EventType.claimed, "user:1", {"assignee": "user:1"}),
                NewEvent(case, EventType.note, "user:1", {"text": "Looked at the transcript."}),
            ]
        append_events(session, events)
        session.commit()


def _queue_sizes(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(Case.queue, sa.func.count())
            .where(Case.queue.is_not(None))
            .group_by(Case.queue)
        ).all()
    return dict(sorted(rows, key=lambda row: -row[1]))


def _time_requests(client, urls: list[str], samples: int) -> list[float]:
    for url in urls[:5] if len(urls) > 1 else urls * 5:
        _get(client, url)
    times = []
    for n in range(samples):
        began = time.perf_counter()
        _get(client, urls[n % len(urls)])
        times.append((time.perf_counter() - began) * 1000)
    return times


def _get(client, url: str) -> None:
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}")


def _report(label: str, times: list[float]) -> None:
    times = sorted(times)
    p50 = statistics.median(times)
    p95 = times[max(0, round(len(times) * 0.95) - 1)]
    verdict = "ok" if p95 < TARGET_MS else f"MISSED (p95 >= {TARGET_MS} ms)"
    print(f"{label:52} {p50:7.1f} {p95:7.1f} {times[-1]:7.1f}  {verdict}")


if __name__ == "__main__":
    main()
