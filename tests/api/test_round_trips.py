"""Round trips on the intake hot path: the exact statements one detection costs, a batch costing
the same whatever its size, and an API key's last use written at most once a minute. The trail's
part is the case's chain only; the log integration runs after the commit (on the embedded default,
in the same process; with Redis, on a worker) and is counted apart.

Statements are named by kind and table (`SELECT case_file`), an id reservation as `reserve
<table>` (SQLite reads the largest id, PostgreSQL draws from the sequence), and the transaction's
BEGIN and COMMIT from the engine's own events (psycopg sends BEGIN without a cursor), so both
engines run the same list and the suite asserts it on each."""

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import event

from cases.core.sqltypes import clock_at, utcnow
from tests.intake.conftest import detection

URL = "/api/v1/detections"
_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?(\w+)')


def kind(statement: str, parameters) -> str:
    """`SELECT case_file`, `INSERT report`, `reserve report`: what a statement does, to what."""
    if "nextval(pg_get_serial_sequence" in statement:
        return f"reserve {parameters['table']}"
    if reserved := re.match(r"SELECT max\((\w+)\.id\)", statement):
        return f"reserve {reserved[1]}"
    statement = " ".join(statement.split())
    verb = statement.split(None, 1)[0].upper()
    if verb == "SELECT":
        # The FROM outside parentheses: not a subquery's among the columns (`EXISTS (SELECT …
        # FROM decision …)`), though the first table of one the FROM reads (`FROM (SELECT …`).
        depth = 0
        for at, char in enumerate(statement):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and statement.startswith(" FROM ", at):
                statement = statement[at:]
                break
    return f"{verb} {_TABLE.search(statement)[1]}"


class Statements:
    """What the app's engine sends while `recording`, as kinds."""

    def __init__(self, engine):
        self.kinds: list[str] = []
        self.recording = False
        event.listen(engine, "begin", lambda _: self._add("BEGIN"))
        event.listen(engine, "commit", lambda _: self._add("COMMIT"))
        event.listen(engine, "before_cursor_execute", self._cursor)

    def _add(self, kind: str) -> None:
        if self.recording:
            self.kinds.append(kind)

    def _cursor(self, conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE: the begin event's
            self._add(kind(statement, parameters))

    def during(self, request) -> list[str]:
        self.kinds, self.recording = [], True
        try:
            response = request()
        finally:
            self.recording = False
        assert response.status_code in (201, 207), response.get_data(as_text=True)
        return self.kinds

    def parts(self, kinds: list[str]) -> tuple[list[str], list[str], list[str]]:
        """Intake's part of the request's transaction (with its COMMIT), the trail's append, and
        what ran after the commit (the log integration on the embedded default)."""
        end = kinds.index("COMMIT")
        request, after = kinds[:end], kinds[end + 1 :]
        size = len(self.append)
        return [*request[:-size], "COMMIT"], request[-size:], after

    def intake(self, kinds: list[str]) -> list[str]:
        return self.parts(kinds)[0]


@pytest.fixture
def statements(app, post_json) -> Statements:
    counter = Statements(app.extensions["docket.db"])
    postgres = app.config["DATABASE_URL"].startswith("postgresql")
    # PostgreSQL locks the cases' rows first; SQLite's writer already holds the database.
    counter.append = [*(["SELECT case_file"] if postgres else []), *APPEND]
    # Warm-up: the key's first use is recorded, the workflow definition registered (and known to
    # be, so no later case checks), caches full.
    assert post_json(URL, detection("warm-up")).status_code == 201
    assert post_json(URL, detection("warm-up-2")).status_code == 201
    return counter


# Intake's part of a detection's request, by what the detection finds.
OPENS_A_CASE = [
    "BEGIN",
    "SELECT api_key",  # authentication (its last use: at most once a minute, below)
    "INSERT subject",  # upsert, locking the subject; returns its prior enforcement too
    "SELECT case_file",  # its open case, locked (none here); whether that ended in a restriction
    "reserve case_file",
    "INSERT case_file",
    "reserve report",
    "INSERT report",
    "COMMIT",
]
JOINS_A_CASE = [
    "BEGIN",
    "SELECT api_key",
    "INSERT subject",
    "SELECT case_file",  # the open case, locked
    "SELECT report",  # its distinct reporters, and whether this one is among them
    "UPDATE case_file",
    "reserve report",
    "INSERT report",
    "COMMIT",
]
# The trail's append (cases.trail.store.append_events, any number of events): the cases' chain
# heads, read under their locks, then one statement per table; no log-head lock.
APPEND = ["SELECT case_event", "reserve case_event", "INSERT case_event", "INSERT event_payload"]
# The integration after the commit: the log-head lock, the pending events, their leaves (and a
# subtree node when a leaf completes one), their log indexes, the head.
INTEGRATION = [
    "BEGIN",
    "SELECT log_head",
    "SELECT case_event",
    "INSERT log_leaf",
    "UPDATE case_event",
    "UPDATE log_head",
    "COMMIT",
]


def test_a_detection_takes_a_fixed_list_of_statements(statements, post_json):
    opening = statements.during(lambda: post_json(URL, detection("user-1")))
    joining = statements.during(lambda: post_json(URL, detection("user-1")))

    assert statements.parts(opening) == (OPENS_A_CASE, statements.append, INTEGRATION)
    assert statements.parts(joining) == (
        JOINS_A_CASE,
        statements.append,
        # Leaf 3 completes the subtrees of leaves 2-3 and 0-3 (one statement for both).
        [*INTEGRATION[:4], "INSERT log_node", *INTEGRATION[4:]],
    )
    # The request's own transaction, BEGIN to COMMIT: 13 statements either way (PostgreSQL: 14,
    # with its case lock).
    locks = len(statements.append) - len(APPEND)
    assert len(opening) - len(INTEGRATION) == len(joining) - len(INTEGRATION) - 1 == 13 + locks


def test_with_redis_the_request_does_not_integrate(app, statements, post_json):
    app.config["REDIS_URL"] = "redis://127.0.0.1:6379/15"  # a worker integrates instead
    joining = statements.during(lambda: post_json(URL, detection("warm-up")))
    assert statements.parts(joining) == (JOINS_A_CASE, statements.append, [])


def test_a_key_used_again_within_a_minute_is_not_written(statements, post_json):
    start = utcnow()
    with clock_at(start + timedelta(minutes=1)):
        first = statements.during(lambda: post_json(URL, detection("warm-up")))
    with clock_at(start + timedelta(minutes=1, seconds=59)):
        again = statements.during(lambda: post_json(URL, detection("warm-up")))
    with clock_at(start + timedelta(minutes=2)):
        later = statements.during(lambda: post_json(URL, detection("warm-up")))

    recorded = ["BEGIN", "SELECT api_key", "UPDATE api_key", *JOINS_A_CASE[2:]]
    assert statements.intake(first) == statements.intake(later) == recorded
    assert statements.intake(again) == JOINS_A_CASE


def batch(size: int, *, known: int = 0) -> str:
    """A batch of `size` detections, the first `known` about subjects with open cases (`user-<i>`),
    the others each about a subject of its own."""
    subjects = [f"user-{i}" for i in range(known)] + [None] * (size - known)
    return json.dumps({"items": [detection(subject) for subject in subjects]})


def test_a_batch_takes_the_same_statements_whatever_its_size(statements, post_json):
    batch_url = f"{URL}/batch"
    small = statements.during(lambda: post_json(batch_url, batch(2)))
    large = statements.during(lambda: post_json(batch_url, batch(40)))
    assert small[: small.index("COMMIT")] == large[: large.index("COMMIT")]
    assert statements.intake(large) == OPENS_A_CASE

    for i in range(3):
        post_json(URL, detection(f"user-{i}"))
    mixed_small = statements.during(lambda: post_json(batch_url, batch(3, known=1)))
    mixed_large = statements.during(lambda: post_json(batch_url, batch(40, known=3)))
    # A batch both opening and joining cases inserts the new ones and updates the others.
    assert mixed_small[: mixed_small.index("COMMIT")] == mixed_large[: mixed_large.index("COMMIT")]
    assert statements.intake(mixed_large) == [
        *OPENS_A_CASE[:4],
        "SELECT report",
        *OPENS_A_CASE[4:6],
        "UPDATE case_file",
        *OPENS_A_CASE[6:],
    ]
