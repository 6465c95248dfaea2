"""Appends are pending until the integrator gives them log indexes (DESIGN section 4): after each
commit on the embedded default, every second on a worker with Redis, before a checkpoint, and by
`flask --app app trail integrate`; verification, /audit and the log API know pending events."""

import base64
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from alembic import command
from sqlmodel import select

from cases.core import migrate
from cases.core.sqltypes import clock_at, utcnow
from cases.enums import AppellantKind, EventType, Role
from cases.jobs.registry import run_periodic
from cases.portal.links import issue_link, link_url
from cases.trail import merkle
from cases.trail.audit import verify_trail
from cases.trail.checkpoints import sign_log_checkpoint
from cases.trail.events import TrailError, leaf_data
from cases.trail.models import CaseEvent, EventPayload, LogLeaf
from cases.trail.store import (
    NewEvent,
    append_event,
    append_events,
    current_root,
    integrate_log,
    log_size,
    pending_events,
)
from tests.factories import make_api_key, make_case
from tests.trail.conftest import ORIGIN, commit_pending
from tests.trail.tampering import tamper


def note(session, case, text: str):
    return append_event(
        session, case=case, type=EventType.note, actor="user:1", payload={"t": text}
    )


def indexes(session) -> list[tuple[int, int | None]]:
    """(id, log index) of every event, in id order."""
    session.commit()  # a fresh snapshot: SQLite's readers keep theirs until the transaction ends
    return list(session.exec(select(CaseEvent.id, CaseEvent.log_index).order_by(CaseEvent.id)))


def test_an_append_is_pending_until_the_integrator_runs(session):
    a, b = make_case(session), make_case(session)
    stored = append_events(
        session,
        [NewEvent(case=case, type=EventType.note, actor="user:1") for case in (a, b, a)],
    )
    commit_pending(session)
    assert [event.log_index for event in stored] == [None, None, None]
    assert pending_events(session)[0] == 3 and log_size(session) == 0

    assert integrate_log(session) == 3
    session.commit()
    # Id order, which is each case's chain order; the leaves are exactly what was appended.
    assert indexes(session) == [(event.id, i) for i, event in enumerate(stored)]
    leaves = list(session.exec(select(LogLeaf.data).order_by(LogLeaf.index)))
    assert leaves == [
        leaf_data(case.reference, bytes.fromhex(event.entry_hash))
        for case, event in zip((a, b, a), stored, strict=True)
    ]
    assert current_root(session) == (3, merkle.root([merkle.leaf_hash(leaf) for leaf in leaves]))
    assert pending_events(session) == (0, None)
    assert integrate_log(session) == 0


def test_integration_is_batched_by_limit_and_never_repeats(session):
    case = make_case(session)
    for n in range(5):
        note(session, case, str(n))
    commit_pending(session)
    assert [integrate_log(session, limit=2) for _ in range(4)] == [2, 2, 1, 0]
    session.commit()
    assert [index for _, index in indexes(session)] == [0, 1, 2, 3, 4]


def test_a_commit_integrates_on_the_embedded_default(session):
    case = make_case(session)
    note(session, case, "first")
    session.commit()
    assert [index for _, index in indexes(session)] == [0]


def test_a_rolled_back_append_leaves_nothing_to_integrate(session):
    case = make_case(session)
    session.commit()
    note(session, case, "never")
    session.rollback()
    note(session, case, "kept")
    session.commit()
    assert [index for _, index in indexes(session)] == [0]


def test_with_redis_the_periodic_task_integrates(app, session):
    app.config["REDIS_URL"] = "redis://127.0.0.1:6379/15"  # read only by the after-commit hook here
    case = make_case(session)
    note(session, case, "first")
    session.commit()
    assert [index for _, index in indexes(session)] == [None]
    run_periodic("integrate_log")
    assert [index for _, index in indexes(session)] == [0]


def test_a_checkpoint_covers_what_was_pending(session, signer):
    case = make_case(session)
    note(session, case, "first")
    note(session, case, "second")
    commit_pending(session)
    checkpoint = sign_log_checkpoint(session, signer=signer, origin=ORIGIN)
    session.commit()
    assert checkpoint.size == 2 and [index for _, index in indexes(session)] == [0, 1]


def test_the_integrate_command(session, runner):
    case = make_case(session)
    note(session, case, "first")
    commit_pending(session)
    result = runner.invoke(args=["trail", "integrate"])
    assert result.exit_code == 0, result.output
    assert result.output == "integrated 1 pending event(s)\n"
    assert [index for _, index in indexes(session)] == [0]
    assert runner.invoke(args=["trail", "integrate"]).output == "integrated 0 pending event(s)\n"


# --- verification ------------------------------------------------------------------------------


@pytest.fixture
def pending_tail(session, signer):
    """Case A: two integrated events under a checkpoint, then three pending ones."""
    case = make_case(session)
    note(session, case, "1")
    note(session, case, "2")
    session.commit()
    sign_log_checkpoint(session, signer=signer, origin=ORIGIN)
    session.commit()
    events = [note(session, case, str(n)) for n in (3, 4, 5)]
    commit_pending(session)
    return case, events


def verify(session, signer, blob_store, **options):
    report = verify_trail(session, verifier_key=signer.verifier_key, store=blob_store, **options)
    session.rollback()
    return report


def test_verify_checks_pending_chains_and_counts_them(session, signer, blob_store, pending_tail):
    report = verify(session, signer, blob_store, pending_alert=timedelta(minutes=1))
    assert (report.leaves, report.events, report.pending, report.overdue) == (2, 5, 3, None)
    assert "5 events (0 payloads erased, 3 pending integration)" in "\n".join(report.lines())
    case, _ = pending_tail
    assert verify(session, signer, blob_store, case_ref=case.reference).pending == 3


def test_events_pending_too_long_are_reported(session, signer, blob_store):
    case = make_case(session)
    with clock_at(utcnow() - timedelta(minutes=5)):
        note(session, case, "old")
    commit_pending(session)
    report = verify(session, signer, blob_store, pending_alert=timedelta(minutes=1))
    assert report.overdue.startswith("1 event(s) pending integration, the oldest appended at ")
    assert report.lines()[-1].startswith("WARNING: 1 event(s) pending integration")
    assert "more than 60 s ago" in report.overdue


def middle(session, events) -> CaseEvent:
    return session.get(CaseEvent, events[1].id)


# Each is caught while the events are pending: by the chain, as the log cannot help yet.
PENDING_TAMPERS = {
    "edited payload": lambda s, e: tamper(
        s, f'UPDATE event_payload SET payload = \'{{"t":"X"}}\' WHERE event_id = {e[1].id}'
    ),
    "edited header": lambda s, e: tamper(
        s,
        f"UPDATE case_event SET actor = 'user:9', header = replace(header, 'user:1', 'user:9') "
        f"WHERE id = {e[1].id}",
    ),
    "deleted middle event": lambda s, e: tamper(
        s,
        f"DELETE FROM event_payload WHERE event_id = {e[1].id}",
        f"DELETE FROM case_event WHERE id = {e[1].id}",
    ),
    "reordered events": lambda s, e: tamper(
        s,
        f"UPDATE case_event SET seq = 100 WHERE id = {e[1].id}",
        f"UPDATE case_event SET seq = 4 WHERE id = {e[2].id}",
        f"UPDATE case_event SET seq = 5 WHERE id = {e[1].id}",
    ),
}


@pytest.mark.parametrize("edit", PENDING_TAMPERS.values(), ids=PENDING_TAMPERS.keys())
def test_tampering_with_pending_events_is_caught(session, signer, blob_store, pending_tail, edit):
    case, events = pending_tail
    edit(session, events)
    with pytest.raises(TrailError, match=f"^case {case.reference} event [45]: "):
        verify(session, signer, blob_store)


def test_the_last_pending_event_is_only_as_safe_as_the_integration_delay(
    session, signer, blob_store, pending_tail
):
    # The documented window: before its leaf exists, nothing but the event records it, so the
    # newest pending event can be removed unseen. trail verify reports events left pending
    # longer than TRAIL_PENDING_ALERT_SECONDS, so the window stays seconds long.
    _, events = pending_tail
    tamper(
        session,
        f"DELETE FROM event_payload WHERE event_id = {events[2].id}",
        f"DELETE FROM case_event WHERE id = {events[2].id}",
    )
    assert verify(session, signer, blob_store).events == 4


def test_integration_then_verifies_and_fixes_the_pending_events(
    session, signer, blob_store, pending_tail
):
    integrate_log(session)
    session.commit()
    sign_log_checkpoint(session, signer=signer, origin=ORIGIN)
    session.commit()
    report = verify(session, signer, blob_store)
    assert (report.leaves, report.events, report.pending, report.checkpoints) == (5, 5, 0, 2)


def test_trail_verify_command_warns_and_passes(session, runner, app):
    app.config["TRAIL_PENDING_ALERT_SECONDS"] = 60
    case = make_case(session)
    with clock_at(utcnow() - timedelta(minutes=5)):
        note(session, case, "old")
    commit_pending(session)
    result = runner.invoke(args=["trail", "verify"])
    assert result.exit_code == 0, result.output
    assert "1 pending integration)" in result.output
    assert "WARNING: 1 event(s) pending integration" in result.output
    assert result.output.endswith("PASS\n")


def test_the_audit_page_shows_pending_and_overdue_events(client, session, signed_in):
    case = make_case(session)
    with clock_at(utcnow() - timedelta(minutes=5)):
        note(session, case, "old")
    commit_pending(session)
    signed_in(Role.auditor)
    page = client.get("/audit/").get_data(as_text=True)
    assert "<dt>Pending integration</dt><dd>1 event appended, not yet in the log</dd>" in page
    assert 'role="alert">1 event(s) pending integration' in page


# --- the log API -------------------------------------------------------------------------------


def proof_path(case, seq: int, size: int | None = None) -> str:
    return f"/api/v1/cases/{case.reference}/events/{seq}/proof" + (f"?size={size}" if size else "")


@pytest.fixture
def reader_key(session) -> dict:
    _, text = make_api_key(session, scopes=["cases:read"])
    session.commit()
    return {"Authorization": f"Bearer {text}"}


def test_a_pending_event_has_no_proof_yet(client, session, pending_tail, reader_key):
    case, _ = pending_tail
    response = client.get(proof_path(case, 3), headers=reader_key)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "not_integrated"
    assert "not yet integrated" in response.get_json()["error"]["message"]
    events = client.get(f"/api/v1/cases/{case.reference}/events", headers=reader_key).get_json()
    assert [e["log_index"] for e in events["events"]] == [0, 1, None, None, None]


def test_an_integrated_event_proves_its_inclusion(client, session, pending_tail, reader_key):
    case, events = pending_tail
    integrate_log(session)
    session.commit()
    body = client.get(proof_path(case, 4), headers=reader_key).get_json()
    leaf = leaf_data(case.reference, bytes.fromhex(events[1].entry_hash))
    assert (body["index"], body["size"]) == (3, 5)
    assert base64.b64decode(body["leaf_hash"]) == merkle.leaf_hash(leaf)
    proof = [base64.b64decode(h) for h in body["proof"]]
    root = base64.b64decode(body["root"])
    merkle.verify_inclusion(merkle.leaf_hash(leaf), 3, 5, proof, root)  # raises if wrong
    assert client.get(proof_path(case, 4, size=3), headers=reader_key).status_code == 422
    assert client.get(proof_path(case, 9), headers=reader_key).status_code == 404


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 401), *[(role, 200) for role in Role], ("api key", 200), ("other link", 401)],
)
def test_who_may_ask_for_an_event_proof(client, session, signed_in, reader_key, who, status):
    case = make_case(session)
    note(session, case, "first")
    session.commit()
    headers = {}
    if who == "api key":
        headers = reader_key
    elif who == "other link":
        link = issue_link(session, case=make_case(session), holder=AppellantKind.affected_user)
        session.commit()
        assert client.get(urlsplit(link_url(link)).path).status_code == 200
    elif who != "anonymous":
        signed_in(who)
    response = client.get(proof_path(case, 1), headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    ["/events/0/proof", "/events/-1/proof", "/events/x/proof", "/events/1/proof?size=abc",
     "/events/1/proof?size=0", "/events/1/proof?size=99999999999999999999",
     "/events/1/proof?size=%3Cb%3E", "/events/1/proof?size=%FF"],
)  # fmt: skip
def test_hostile_event_proof_requests_are_4xx(client, session, reader_key, path):
    case = make_case(session)
    note(session, case, "first")
    session.commit()
    response = client.get(f"/api/v1/cases/{case.reference}{path}", headers=reader_key)
    assert 400 <= response.status_code < 500


def test_payloads_stay_apart_from_pending_state(session):
    # The payload row is written with the event and never touched by integration.
    case = make_case(session)
    event = note(session, case, "kept")
    commit_pending(session)
    before = session.get(EventPayload, event.id).payload
    integrate_log(session)
    session.commit()
    session.expire_all()
    assert session.get(EventPayload, event.id).payload == before


# --- the migration ---------------------------------------------------------------------------


def trail_rows(session) -> dict[str, list]:
    session.commit()
    rows = {
        table: session.connection().exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1").all()
        for table in ("case_event", "event_payload", "log_leaf", "log_node", "log_head")
    }
    session.rollback()  # no lock held while the migration alters the tables
    return rows


def test_migration_0008_changes_no_stored_event(app, session, signer, blob_store):
    engine = app.extensions["docket.db"]
    case = make_case(session)
    for n in range(5):
        note(session, case, str(n))
    session.commit()
    # Back to 0007, whose triggers allowed no log index to be set: integrated rows as an
    # earlier release left them.
    command.downgrade(migrate.alembic_config(engine), "0007")
    try:
        before = trail_rows(session)
    finally:
        migrate.upgrade(engine)
    assert trail_rows(session) == before
    note(session, case, "after the migration")
    session.commit()
    report = verify(session, signer, blob_store)
    assert (report.leaves, report.events, report.pending) == (6, 6, 0)
