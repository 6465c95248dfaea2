"""Scale-out, demonstrated (issue 14): two application machines and two workers on one database
and one object store, under load, leave a trail that verifies whole.

Each machine is a gunicorn (2 workers) with an instance folder of its own; the machines share
nothing but PostgreSQL, Redis (under this test's own prefix), the S3 object store (a real
SeaweedFS, `tests.object_store`) and the same SECRET_KEY and TRAIL_SIGNING_KEY. Both take load at
once: detections one per request and in batches, public reports with attachments (among them
the same new file from reporters on both machines at the same moment), and a staff member signed
in on one machine moving cases on the other. The web processes integrate nothing (with REDIS_URL
they leave that to the workers' periodic task), so the pending events draining to none shows the
workers' integration at work across machines; the jobs the load caused drain too. Then a
checkpoint is signed with one machine's settings and `trail verify` run with the other's: chains,
log, checkpoints and every blob; and each blob's bytes are read back from the object store and
hashed here.
"""

import functools
import hashlib
import itertools
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sqlmodel import Session

from cases.core import migrate
from cases.core.config import DEFAULTS
from cases.core.db import make_engine
from cases.enums import ApiScope, OutboxStatus
from cases.models import Outbox
from cases.trail.models import Blob, CaseEvent, LogHead, LogLeaf
from cases.trail.objects import Location
from cases.trail.signed_notes import generate_signer_key
from tests import pg_database
from tests.casework import FORM_TOKEN
from tests.conftest import POSTGRES_URL
from tests.factories import PASSWORD, make_api_key, make_user
from tests.helpers import notice_form
from tests.intake.conftest import detection
from tests.jobs.conftest import SHARED_REDIS, free_port

pytestmark = [pytest.mark.postgres_only, pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LOAD_SECONDS = 5
STARTUP_SECONDS = 60
DRAIN_SECONDS = 30  # the workers integrate every second; this allows for a loaded machine
REQUEST_TIMEOUT = 60
BATCH_SIZE = 25
SUBJECTS = 150  # few enough that many detections join a case already open
TRANSITIONS = 6
CHILD_SAFETY_ONE_IN = 25  # detections that open (or join) a restricted child-safety case


@dataclass
class Machine:
    """One application machine: its instance folder and settings, its processes."""

    name: str
    folder: Path
    env: dict
    port: int = field(default_factory=free_port)
    processes: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self, label: str, command: list[str]) -> subprocess.Popen:
        log = (self.folder / f"{label}.log").open("wb")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own: stopped whole, workers too
        )
        log.close()
        self.processes.append(process)
        return process

    def serve(self) -> subprocess.Popen:
        return self._start(
            "gunicorn",
            [
                sys.executable, "-m", "gunicorn",
                "--workers", "2",
                "--worker-class", "gthread",
                "--threads", "4",
                "--bind", f"127.0.0.1:{self.port}",
                "--graceful-timeout", "5",
                "--log-level", "warning",
                "app:create_app()",
            ],
        )  # fmt: skip

    def work(self) -> subprocess.Popen:
        return self._start("worker", [sys.executable, "-m", "flask", "--app", "app", "worker"])

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def log(self, label: str) -> str:
        path = self.folder / f"{label}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def stop(machines: list[Machine]) -> None:
    """Stop every process of every machine, each group whole (gunicorn's workers, RQ's
    work-horses); all are asked at once, so their graceful stops overlap."""
    processes = [process for machine in machines for process in machine.processes]
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def scale_database() -> str:
    """A database of this test's own beside the run's (it runs processes of its own on it)."""
    name = f"docket_scale_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    pg_database.main("create", POSTGRES_URL, name)
    url = pg_database.database_url(POSTGRES_URL, name)
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
    finally:
        pg_database.main("drop", POSTGRES_URL, name)


def machine_env(database_url: str, prefix: str, store: dict, shared: dict, folder: Path) -> dict:
    """What a machine is told: the shared services and secrets, and its own instance folder."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": SHARED_REDIS,
        "SECRET_KEY": shared["SECRET_KEY"],
        "DOCKET_INSTANCE_PATH": str(folder / "instance"),
        "FLASK_TRAIL_SIGNING_KEY": shared["TRAIL_SIGNING_KEY"],
        "FLASK_JOB_QUEUE_PREFIX": prefix,
        # The public form's limit (10 a minute per client) would refuse the uploads below.
        "FLASK_RATELIMIT_ENABLED": "false",
        **{f"FLASK_{name}": value for name, value in store.items()},
    }


def wait_until_up(machine: Machine, server: subprocess.Popen, key: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert server.poll() is None, f"{machine.name} exited: {machine.log('gunicorn')}"
        try:
            answer = requests.get(
                f"{machine.url}/api/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=5
            )
            if answer.status_code == 200:
                return
        except requests.RequestException:  # refused, or queued until a worker has booted
            pass
        time.sleep(0.2)
    raise AssertionError(f"{machine.name} did not answer in {STARTUP_SECONDS} s")


def form_token(http: requests.Session, url: str) -> str:
    page = http.get(url, timeout=REQUEST_TIMEOUT)
    match = FORM_TOKEN.search(page.text)
    assert match, f"no CSRF token on {url} ({page.status_code})"
    return match.group(1)


class Reporter:
    """A reporter's browser on one machine: its cookies and the report form's CSRF token."""

    def __init__(self, server: str):
        self.server = server
        self.http = requests.Session()
        self.token = form_token(self.http, f"{server}/report")


class Load:
    """Clients on threads, each kind against a server until the deadline; what they saw."""

    def __init__(self, key: str, seconds: float):
        self.key = key
        self.deadline = time.monotonic() + seconds
        self.outcomes: Counter = Counter()  # (kind, "ok" or "failed"): how many
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.failures: list[str] = []
        self.uploaded: set[str] = set()  # SHA-256 of every file a stored report carried
        self.new_cases: list[str] = []  # references of fresh standard cases, for staff to move
        self.transitioned: list[str] = []
        self._serial = itertools.count()

    def _record(self, kind: str, began: float, problem: str | None) -> None:
        self.latencies[kind].append(time.monotonic() - began)
        self.outcomes[kind, "ok" if problem is None else "failed"] += 1
        if problem is not None:
            self.failures.append(f"{kind}: {problem}")

    def _detection(self, rng: random.Random) -> dict:
        serial = next(self._serial)
        scores = (
            {"sexual/minors": 0.97}
            if serial % CHILD_SAFETY_ONE_IN == 0
            else {rng.choice(("harassment", "hate", "violence", "illicit")): 0.9}
        )
        return detection(f"user-{rng.randrange(SUBJECTS)}", scores=scores)

    def _note_case(self, body: dict) -> None:
        case = body["case"]
        if not case["restricted"] and case["opened"] and case["state"] == "new":
            self.new_cases.append(case["reference"])

    def detections(self, server: str, seed: int, batch: int) -> None:
        rng = random.Random(seed)
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.key}"
        kind = "batch" if batch > 1 else "detection"
        while time.monotonic() < self.deadline:
            began = time.monotonic()
            if batch > 1:
                items = [self._detection(rng) for _ in range(batch)]
                answer = http.post(
                    f"{server}/api/v1/detections/batch",
                    json={"items": items},
                    timeout=REQUEST_TIMEOUT,
                )
                results = answer.json()["results"] if answer.status_code == 207 else []
                stored = results and all(result["status"] == 201 for result in results)
                problem = None if stored else f"{answer.status_code} {answer.text[:300]}"
                self.outcomes["batched detections", "ok"] += batch if problem is None else 0
            else:
                answer = http.post(
                    f"{server}/api/v1/detections",
                    json=self._detection(rng),
                    timeout=REQUEST_TIMEOUT,
                )
                problem = None if answer.status_code == 201 else answer.text[:300]
                if problem is None:
                    self._note_case(answer.json())
            self._record(kind, began, problem)

    def _report(self, reporter: Reporter, files: list[bytes], subject: str) -> None:
        """A public report with `files` attached, as a browser sends it."""
        form = notice_form(account_id=subject) | {"csrf_token": reporter.token}
        attachments = [
            ("attachments", (f"chat-{n}.txt", data, "text/plain")) for n, data in enumerate(files)
        ]
        began = time.monotonic()
        answer = reporter.http.post(
            f"{reporter.server}/report",
            data=form,
            files=attachments,
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT,
        )
        stored = answer.status_code == 302 and answer.headers["Location"].endswith(
            "/report/received"
        )
        if stored:
            self.uploaded.update(hashlib.sha256(data).hexdigest() for data in files)
        self._record("report", began, None if stored else f"{answer.status_code}")

    def reports(self, server: str, seed: int) -> None:
        """Public reports, each with one or two text files of their own."""
        rng = random.Random(seed)
        reporter = Reporter(server)
        while time.monotonic() < self.deadline:
            files = [
                secrets.token_hex(rng.randrange(500, 40_000)).encode()
                for _ in range(rng.randint(1, 2))
            ]
            self._report(reporter, files, f"user-{rng.randrange(SUBJECTS)}")

    def same_file(self, servers: list[str], *, senders: int, rounds: int) -> None:
        """`senders` reporters on each machine send the same new file at the same moment, each
        about an account of their own (reports about one account queue on its row), `rounds`
        times."""
        reporters = [Reporter(server) for server in servers for _ in range(senders)]
        for round in range(rounds):
            data = secrets.token_hex(20_000).encode()
            start = threading.Barrier(len(reporters))

            def send(n: int, reporter: Reporter, data=data, round=round, start=start) -> None:
                start.wait()
                self._report(reporter, [data], f"same-file-{round}-{n}")

            run_threads([(send, pair) for pair in enumerate(reporters)])

    def staff(self, sign_in_at: str, work_at: str, email: str) -> None:
        """Sign in on one machine, then start the triage of TRANSITIONS fresh cases on the other
        (however long the load lasts: a few, to show the staff's session on both machines)."""
        http = requests.Session()
        token = form_token(http, f"{sign_in_at}/login")
        signed_in = http.post(
            f"{sign_in_at}/login",
            data={"email": email, "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT,
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        for _ in range(TRANSITIONS):
            waited = time.monotonic()
            while not self.new_cases:
                assert time.monotonic() < waited + REQUEST_TIMEOUT, "no fresh case to triage"
                time.sleep(0.05)
            reference = self.new_cases.pop(0)
            began = time.monotonic()
            token = form_token(http, f"{work_at}/cases/{reference}")
            answer = http.post(
                f"{work_at}/cases/{reference}/transitions",
                data={"csrf_token": token, "transition": "start_triage"},
                allow_redirects=False,
                timeout=REQUEST_TIMEOUT,
            )
            if answer.status_code == 303:
                self.transitioned.append(reference)
            self._record("transition", began, None if answer.status_code == 303 else answer.text)

    def run(self, a: str, b: str, staff_email: str) -> float:
        clients = []
        for n, server in enumerate((a, b)):
            clients += [(self.detections, (server, 10 * n + t, 1)) for t in range(3)]
            clients += [
                (self.detections, (server, 100 + n, BATCH_SIZE)),
                (self.reports, (server, 200 + n)),
            ]
        clients.append((self.staff, (a, b, staff_email)))
        clients.append((functools.partial(self.same_file, senders=2, rounds=3), ([a, b],)))
        began = time.monotonic()
        run_threads(clients)
        return time.monotonic() - began


def run_threads(clients: list[tuple]) -> None:
    """Run each (function, args) on a thread of its own; the first exception of any is raised."""
    failures: list[BaseException] = []

    def guarded(target, args) -> None:
        try:
            target(*args)
        except BaseException as exc:  # a client's crash fails the test, not only its thread
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=client) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def scalar(engine: sa.Engine, query) -> int:
    with engine.connect() as connection:
        return connection.execute(query).scalar_one()


PENDING = sa.select(sa.func.count()).select_from(CaseEvent).where(CaseEvent.log_index.is_(None))
# Events awaiting integration and jobs due but not done, read in one snapshot: a job may append
# events, which are then pending until the next integration.
UNFINISHED = sa.select(
    PENDING.scalar_subquery(),
    sa.select(sa.func.count())
    .where(Outbox.status != OutboxStatus.done, Outbox.available_at <= sa.func.now())
    .scalar_subquery(),
)


def test_two_machines_and_two_workers_under_load_leave_a_whole_trail(
    scale_database, redis_prefix, object_store_config, s3_server, tmp_path
):
    engine = make_engine(scale_database)
    with Session(engine) as session:
        _, key = make_api_key(session, scopes=[ApiScope.detections_write])
        staff = make_user(session, role="reviewer")
        session.commit()
        staff_email, staff_actor = staff.email, f"user:{staff.id}"
    shared = {
        "SECRET_KEY": secrets.token_hex(32),
        "TRAIL_SIGNING_KEY": generate_signer_key(DEFAULTS["TRAIL_ORIGIN"]),
    }
    machines = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        env = machine_env(scale_database, redis_prefix, object_store_config, shared, folder)
        machines.append(Machine(name, folder, env))
    a, b = machines
    try:
        servers = [machine.serve() for machine in machines]
        workers = [machine.work() for machine in machines]
        for machine, server in zip(machines, servers, strict=True):
            wait_until_up(machine, server, key)

        load = Load(key, LOAD_SECONDS)
        load_seconds = load.run(a.url, b.url, staff_email)
        requests_made = sum(
            count for (kind, _), count in load.outcomes.items() if kind != "batched detections"
        )
        assert not load.failures, (load.failures[:5], [m.log("gunicorn")[-3000:] for m in machines])
        assert all(w.poll() is None for w in workers), a.log("worker") + b.log("worker")

        # Nothing in the web processes integrates: the workers' periodic task drains it all.
        # So do the jobs the load caused (notices, holds, retention of held files).
        drained_at = time.monotonic()
        while True:
            with engine.connect() as connection:
                pending, undone = connection.execute(UNFINISHED).one()
            if not (pending or undone) or time.monotonic() > drained_at + DRAIN_SECONDS:
                break
            time.sleep(0.2)
        assert (pending, undone) == (0, 0), f"{pending} events pending, {undone} jobs not done"
        drain_seconds = time.monotonic() - drained_at
        # RQ logs each job as it starts ("queue: function(args) (job id)") and as it ends.
        integrations = [m.log("worker").count("run_periodic('integrate_log') (") for m in machines]
        with engine.connect() as connection:
            jobs = connection.execute(sa.select(sa.func.count()).select_from(Outbox)).scalar_one()
    finally:
        stop(machines)

    # Jobs may have appended after the drain; signing integrates them. One machine signs, the
    # other verifies: the same key, the same log.
    signed = b.flask("trail", "checkpoint")
    assert signed.returncode == 0, signed.stderr + signed.stdout
    verified = a.flask("trail", "verify")
    assert verified.returncode == 0 and verified.stdout.rstrip().endswith("PASS"), (
        verified.stdout[-3000:] + verified.stderr[-3000:]
    )

    events = scalar(engine, sa.select(sa.func.count()).select_from(CaseEvent))
    moved = sa.select(sa.func.count()).where(
        CaseEvent.type == "transition", CaseEvent.actor == staff_actor
    )
    assert scalar(engine, moved) == len(load.transitioned) == TRANSITIONS
    assert scalar(engine, PENDING) == 0
    assert scalar(engine, sa.select(sa.func.count()).select_from(LogLeaf)) == events
    assert scalar(engine, sa.select(LogHead.size)) == events

    with engine.connect() as connection:
        blobs = connection.execute(sa.select(Blob.sha256, Blob.size, Blob.restricted)).all()
    engine.dispose()
    # A row for every file of every stored report, and none for a report that failed.
    assert load.uploaded and {row.sha256 for row in blobs} == load.uploaded
    locations = {
        False: Location.parse(object_store_config["BLOB_STORE_URL"]),
        True: Location.parse(object_store_config["BLOB_STORE_RESTRICTED_URL"]),
    }
    s3 = s3_server.client()
    for row in blobs:
        where = locations[row.restricted]
        body = s3.get_object(Bucket=where.bucket, Key=where.key(row.sha256))["Body"].read()
        assert (hashlib.sha256(body).hexdigest(), len(body)) == (row.sha256, row.size)

    timings = ", ".join(
        f"{len(times)} {kind} (p50 {statistics.median(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms)"
        for kind, times in load.latencies.items()
    )
    restricted = sum(row.restricted for row in blobs)
    print(
        f"\nscale-out: {requests_made} requests in {load_seconds:.1f} s: {timings}; "
        f"{load.outcomes['batched detections', 'ok']} detections in batches; {events} events, "
        f"{len(blobs)} blobs ({restricted} restricted), {jobs} outbox jobs; all drained "
        f"{drain_seconds:.1f} s after the load; integrate_log runs per worker {integrations}"
    )
