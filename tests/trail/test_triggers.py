"""The append-only triggers (migrations 0002 and 0008), on whichever engine this run uses: trail
rows can be inserted, never updated or deleted, except payload rows, which erasure deletes, and
an event's log index, which the integrator sets once, from NULL."""

import io

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from cases.enums import EventType
from cases.trail.blobs import store_blob
from cases.trail.checkpoints import sign_log_checkpoint
from cases.trail.models import TRAIL_INSERT_ONLY, CaseEvent, LogHead
from cases.trail.store import append_event
from tests.factories import make_case
from tests.trail.conftest import ORIGIN, commit_pending

EDITS = {
    "case_event": "UPDATE case_event SET actor = 'user:9'",
    "log_leaf": "UPDATE log_leaf SET data = :zeros",
    "log_node": "UPDATE log_node SET hash = :zeros",
    "checkpoint": "UPDATE checkpoint SET size = size + 1",
    "blob": "UPDATE blob SET md5 = 'd41d8cd98f00b204e9800998ecf8427e'",
    "event_payload": "UPDATE event_payload SET payload = '{}'",
}
REFUSED = [(table, "UPDATE") for table in EDITS] + [
    (table, "DELETE") for table in TRAIL_INSERT_ONLY
]


@pytest.fixture
def rows(session, signer, blob_store):
    """At least one row in every trail table (two leaves, so a stored subtree exists)."""
    case = make_case(session)
    blob = store_blob(
        session,
        store=blob_store,
        stream=io.BytesIO(b"evidence"),
        media_type="text/plain",
        restricted=False,
        max_size=1024,
    )
    for text in ("first", "second"):
        append_event(
            session,
            case=case,
            type=EventType.note,
            actor="user:1",
            payload={"text": text},
            blobs=[blob.sha256],
        )
    sign_log_checkpoint(session, signer=signer, origin=ORIGIN)
    session.commit()
    return case


def snapshot(session, table: str) -> list:
    return session.connection().exec_driver_sql(f"SELECT * FROM {table}").all()


@pytest.mark.parametrize(("table", "operation"), REFUSED, ids=[" ".join(r) for r in REFUSED])
def test_trigger_refuses(session, rows, table, operation):
    before = snapshot(session, table)
    assert before, f"no {table} row to try on"
    session.rollback()
    sql = EDITS[table] if operation == "UPDATE" else f"DELETE FROM {table}"
    with pytest.raises(sa.exc.DBAPIError, match=f"trail table {table} is append-only: {operation}"):
        session.connection().execute(sa.text(sql), {"zeros": bytes(32)})
    session.rollback()
    assert snapshot(session, table) == before


def test_erasure_may_delete_payload_rows(session, rows):
    session.connection().exec_driver_sql("DELETE FROM event_payload")
    session.commit()
    assert snapshot(session, "event_payload") == []


def test_the_log_head_stays_writable(session, rows):
    # The one mutable row: every append moves it (under its lock).
    session.connection().exec_driver_sql("UPDATE log_head SET size = size")
    session.commit()
    assert session.exec(select(LogHead.size)).one() == 2


def pending_event(session, case) -> int:
    event = append_event(session, case=case, type=EventType.note, actor="user:1")
    commit_pending(session)
    return event.id


def test_the_integrator_may_set_a_log_index_once(session, rows):
    event_id = pending_event(session, rows)
    set_index = "UPDATE case_event SET log_index = :index WHERE id = :id"
    session.connection().execute(sa.text(set_index), {"index": 2, "id": event_id})
    session.commit()
    with pytest.raises(sa.exc.DBAPIError, match="trail table case_event is append-only: UPDATE"):
        session.connection().execute(sa.text(set_index), {"index": 3, "id": event_id})
    session.rollback()


@pytest.mark.parametrize(
    "change",
    ["actor = 'user:9'", "header = header || ' '", "entry_hash = prev_hash", "seq = seq + 100"],
)
def test_nothing_else_changes_with_the_log_index(session, rows, change):
    event_id = pending_event(session, rows)
    with pytest.raises(sa.exc.DBAPIError, match="trail table case_event is append-only: UPDATE"):
        session.connection().execute(
            sa.text(f"UPDATE case_event SET log_index = 2, {change} WHERE id = :id"),
            {"id": event_id},
        )
    session.rollback()
    assert session.get(CaseEvent, event_id).log_index is None


def test_inserts_are_allowed(session, rows):
    count = session.exec(select(func.count()).select_from(sa.table("case_event"))).one()
    append_event(session, case=rows, type=EventType.note, actor="user:1")
    session.commit()
    assert session.exec(select(func.count()).select_from(sa.table("case_event"))).one() == count + 1


@pytest.mark.postgres_only
@pytest.mark.parametrize("table", [*TRAIL_INSERT_ONLY, "event_payload"])
def test_truncate_is_refused_on_postgresql(session, rows, table):
    with pytest.raises(sa.exc.DBAPIError, match=f"trail table {table} is append-only: TRUNCATE"):
        session.connection().exec_driver_sql(f"TRUNCATE {table} CASCADE")
    session.rollback()
    assert snapshot(session, table)
