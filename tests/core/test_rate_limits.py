"""Rate limits hold behind a proxy and across workers (cases.core.extensions, cases.core.config):
they are keyed on the real client (what `PROXY_FIX_HOPS` trusted proxies forwarded, else the
socket's peer, an IPv6 client by its /64), and counted in Redis, shared by every worker process,
when `REDIS_URL` (or `RATELIMIT_STORAGE_URI`) names one."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError

from app import create_app
from cases.core.extensions import client_network
from tests.helpers import post_report

ROOT = Path(__file__).resolve().parents[2]
SHARED_REDIS = "redis://127.0.0.1:6379/0"
LIMIT = "2 per hour"  # a window far longer than a test: no reset half-way


@pytest.fixture
def hops() -> int:
    return 0


@pytest.fixture
def config_overrides(config_overrides, hops) -> dict:
    return {
        **config_overrides,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_PUBLIC": LIMIT,
        "PROXY_FIX_HOPS": hops,
    }


def api_notice(client):
    return client.post("/api/v1/reports", json={})  # refused (422), and counted all the same


def form_notice(client):
    return post_report(client, explanation="")  # refused (400), and counted all the same


SENDERS = [pytest.param(api_notice, id="api"), pytest.param(form_notice, id="form")]


def sent_from(app, send, remote: str, forwarded: str | None = None, **environ) -> int:
    """The status `send` gets from a fresh client at `remote`, with an X-Forwarded-For."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = remote
    if forwarded is not None:
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded
    client.environ_base.update(environ)
    return send(client).status_code


# No `session` fixture in these tests: its app context would make the clients share `g` (and with
# it Flask-WTF's cached CSRF token), which two browsers never do.


@pytest.mark.parametrize("hops", [1])
@pytest.mark.parametrize("send", SENDERS)
def test_behind_a_proxy_each_real_client_has_a_budget_of_its_own(app, send, hops):
    proxy = "10.0.0.2"
    # The proxy appends the address it saw; whatever a client put before it is its own claim.
    assert sent_from(app, send, proxy, "192.0.2.1") != 429
    assert sent_from(app, send, proxy, "203.0.113.66, 192.0.2.1") != 429
    assert sent_from(app, send, proxy, "198.51.100.5, 192.0.2.1") == 429
    assert sent_from(app, send, proxy, "192.0.2.2") != 429


@pytest.mark.parametrize("send", SENDERS)
def test_without_a_proxy_forwarded_for_is_ignored(app, send):
    assert sent_from(app, send, "192.0.2.1", "198.51.100.1") != 429
    assert sent_from(app, send, "192.0.2.1", "198.51.100.2") != 429
    assert sent_from(app, send, "192.0.2.1", "198.51.100.3") == 429  # spoofing did not help
    assert sent_from(app, send, "192.0.2.3", "198.51.100.3") != 429


def test_an_ipv6_client_is_limited_by_its_network(app):
    assert sent_from(app, api_notice, "2001:db8:5:5::1") != 429
    assert sent_from(app, api_notice, "2001:db8:5:5::2") != 429
    assert sent_from(app, api_notice, "2001:db8:5:5:ffff::3") == 429  # the same /64
    assert sent_from(app, api_notice, "2001:db8:5:6::1") != 429


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:DB8:0:0:1::1", "2001:db8::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::/64"),
        (None, "unknown"),
        ("", "unknown"),
        ("not an address", "not an address"),
    ],
)
def test_client_networks(address, network):
    assert client_network(address) == network


def test_the_429_is_no_store(app):
    for _ in range(2):
        sent_from(app, api_notice, "192.0.2.9")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.9"
    response = api_notice(client)
    assert response.status_code == 429 and response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("hops", "hsts"), [(0, False), (1, True)])
def test_the_forwarded_scheme_is_trusted_only_behind_a_proxy(app, hops, hsts):
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_PROTO"] = "https"
    response = client.get("/login")
    assert ("Strict-Transport-Security" in response.headers) is hsts


# --- where the counters live ---------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("REDIS_URL", "FLASK_REDIS_URL", "FLASK_RATELIMIT_STORAGE_URI"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("settings", "storage"),
    [
        ({}, "memory://"),
        ({"REDIS_URL": "redis://cache.internal:6379/0"}, "redis://cache.internal:6379/0"),
        (
            {"REDIS_URL": "redis://cache.internal:6379/0", "RATELIMIT_STORAGE_URI": "memory://"},
            "memory://",
        ),
        ({"RATELIMIT_STORAGE_URI": "redis://limits.internal/2"}, "redis://limits.internal/2"),
    ],
)
def test_counters_live_in_redis_when_there_is_one(
    clean_env, database_url, tmp_path, settings, storage
):
    app = create_app(
        {"DATABASE_URL": database_url, "INSTANCE_PATH": str(tmp_path / "i"), **settings}
    )
    assert app.config["RATELIMIT_STORAGE_URI"] == storage
    app.extensions["docket.db"].dispose()


# --- across worker processes ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def status_of(base: str) -> int:
    request = urllib.request.Request(
        f"{base}/api/v1/reports",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def workers(app, tmp_path):
    """Start `count` web worker processes (`flask run`, each with its own memory) on the test's
    database and the given rate-limit storage; their base URLs. All stopped afterwards."""
    procs: list[subprocess.Popen] = []

    def launch(storage: str, prefix: str) -> tuple[str, Path]:
        port, log_path = free_port(), tmp_path / f"worker-{len(procs)}.log"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FLASK_")},
            "DATABASE_URL": app.config["DATABASE_URL"],
            "DOCKET_INSTANCE_PATH": str(tmp_path / f"instance-{len(procs)}"),
            "SECRET_KEY": app.config["SECRET_KEY"],
            "FLASK_RATELIMIT_STORAGE_URI": storage,
            "FLASK_RATELIMIT_PUBLIC": LIMIT,
            "FLASK_RATELIMIT_KEY_PREFIX": prefix,
        }
        env.pop("REDIS_URL", None)
        with open(log_path, "w") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return f"http://127.0.0.1:{port}", log_path

    def wait_ready(base: str, proc: subprocess.Popen, log_path: Path) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    return
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log_path.read_text()) from None
                time.sleep(0.1)

    def start(storage: str, prefix: str = "", count: int = 1) -> list[str]:
        launched = [(*launch(storage, prefix), procs[-1]) for _ in range(count)]
        for base, log_path, proc in launched:
            wait_ready(base, proc, log_path)
        return [base for base, _, _ in launched]

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)


@pytest.fixture
def redis_prefix():
    """A rate-limit key prefix of this test's own on the shared Redis; its keys deleted after."""
    connection = Redis.from_url(SHARED_REDIS, socket_connect_timeout=1)
    try:
        connection.ping()
    except RedisError:
        pytest.skip("Redis is not answering on 127.0.0.1:6379")
    prefix = f"docket-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    for key in connection.scan_iter(match=f"*{prefix}*"):
        connection.delete(key)


@pytest.mark.redis
def test_a_limit_reached_through_one_worker_holds_in_another(workers, redis_prefix):
    first, second = workers(SHARED_REDIS, redis_prefix, count=2)
    assert [status_of(first), status_of(first)] == [422, 422]
    assert status_of(second) == 429
    assert status_of(first) == 429
    assert any(Redis.from_url(SHARED_REDIS).scan_iter(match=f"*{redis_prefix}*"))


def test_in_memory_each_worker_counts_alone(workers):
    """Why production needs Redis: without it, each worker has a budget of its own."""
    first, second = workers("memory://", count=2)
    assert [status_of(first), status_of(first), status_of(first)] == [422, 422, 429]
    assert status_of(second) == 422


def test_with_redis_down_each_worker_still_limits(workers):
    """Redis unreachable: requests are neither failed nor let through unlimited."""
    [base] = workers(f"redis://127.0.0.1:{free_port()}/0")
    assert [status_of(base) for _ in range(4)] == [422, 422, 429, 429]
