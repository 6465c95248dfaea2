"""The trail in the database: appends, batch appends, proofs served from stored subtrees,
checkpoint signing, erasure and the blob store."""

import hashlib
import io
import json
import stat
from datetime import timedelta

import pytest
from sqlmodel import func, select

from cases.core.sqltypes import utcnow
from cases.enums import EventType
from cases.models import Hold
from cases.trail import merkle
from cases.trail.audit import verify_trail
from cases.trail.blobs import BlobTooLarge, store_blob
from cases.trail.canonical import utc_timestamp
from cases.trail.checkpoints import latest_checkpoint, sign_log_checkpoint
from cases.trail.erasure import ErasureRefused, erase_payload
from cases.trail.events import GENESIS, TrailError, leaf_data
from cases.trail.models import Blob, CaseEvent, Checkpoint, EventPayload, LogHead, LogLeaf
from cases.trail.signed_notes import open_checkpoint
from cases.trail.store import (
    NewEvent,
    append_event,
    append_events,
    case_records,
    consistency_proof,
    current_root,
    inclusion_proof,
    integrate_log,
    log_size,
    root_at,
)
from tests.factories import make_case
from tests.trail.conftest import ORIGIN
from tests.trail.tampering import relinked_leaf, rewrite_log, stored_leaves, tamper


def note(session, case, text: str, **extra) -> CaseEvent:
    return append_event(
        session, case=case, type=EventType.note, actor="user:1", payload={"text": text}, **extra
    )


def events_of(session, case) -> list[CaseEvent]:
    statement = select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
    return list(session.exec(statement))


def assert_chain(session, case, count: int) -> None:
    """Seqs 1..count, each prev the previous entry hash, each leaf this case's entry."""
    events = events_of(session, case)
    assert [e.seq for e in events] == list(range(1, count + 1))
    prev = GENESIS.hex()
    for event in events:
        header = json.loads(event.header)
        assert (event.prev_hash, header["prev"], header["seq"]) == (prev, prev, event.seq)
        assert header["case_id"] == case.reference
        leaf = session.get(LogLeaf, event.log_index)
        assert leaf.data == leaf_data(case.reference, bytes.fromhex(event.entry_hash))
        prev = event.entry_hash


def leaf_hashes(session) -> list[bytes]:
    return [merkle.leaf_hash(data) for data in stored_leaves(session)]


@pytest.fixture
def cases(session):
    return [make_case(session) for _ in range(3)]


# --- appends ------------------------------------------------------------------------------------


def test_appends_are_contiguous_per_case_and_in_the_log(session, cases):
    order = [0, 1, 0, 2, 2, 0, 1, 0, 2, 0]
    for n, i in enumerate(order):
        note(session, cases[i], f"note {n}")
        if n % 3 == 0:
            session.commit()
    session.commit()
    for i, case in enumerate(cases):
        assert_chain(session, case, order.count(i))
    indexes = sorted(session.exec(select(CaseEvent.log_index)))
    assert indexes == list(range(len(order)))
    assert log_size(session) == len(order)
    assert session.exec(select(func.count()).select_from(LogLeaf)).one() == len(order)
    assert current_root(session) == (len(order), merkle.root(leaf_hashes(session)))


def test_payload_is_kept_apart_with_its_salt(session, cases):
    event = note(session, cases[0], "the reporter's words", blobs=["ab" * 32])
    session.commit()
    (record,) = case_records(session, case_id=cases[0].id)
    assert json.loads(record.payload) == {"text": "the reporter's words"}
    header = json.loads(event.header)
    assert header["payload_commit"] == hashlib.sha256(record.salt + record.payload).hexdigest()
    assert header["blobs"] == ["ab" * 32]
    assert "reporter" not in event.header  # personal data never enters the hashed header


def test_batch_append_is_one_transaction_over_several_cases(session, cases):
    note(session, cases[0], "before the batch")
    session.commit()
    at = utcnow()
    batch = [
        NewEvent(case=cases[n % 3], type=EventType.note, actor="job:import", payload={"n": n})
        for n in range(150)
    ]
    rows = append_events(session, batch, at=at)
    session.commit()  # and integrated right after, on the embedded default
    assert [row.log_index for row in rows] == [None] * 150  # as appended: pending
    indexes = select(CaseEvent.log_index).where(CaseEvent.id.in_([row.id for row in rows]))
    assert sorted(session.exec(indexes)) == list(range(1, 151))
    assert {json.loads(row.header)["at"] for row in rows} == {utc_timestamp(at)}
    assert_chain(session, cases[0], 51)
    assert_chain(session, cases[1], 50)
    assert_chain(session, cases[2], 50)
    assert log_size(session) == 151
    assert current_root(session)[1] == merkle.root(leaf_hashes(session))


def test_batch_append_rolls_back_as_a_whole(session, cases):
    note(session, cases[0], "kept")
    session.commit()
    head = session.get(LogHead, 1)
    size, border = head.size, list(head.border)
    batch = [NewEvent(case=case, type=EventType.note, actor="job:x") for case in cases * 4]
    append_events(session, batch)
    integrate_log(session)
    assert log_size(session) == 13  # visible inside the transaction...
    session.rollback()
    session.expire_all()
    assert (log_size(session), session.get(LogHead, 1).border) == (size, border)  # ...not after
    assert session.exec(select(func.count()).select_from(CaseEvent)).one() == 1
    assert session.exec(select(func.count()).select_from(LogLeaf)).one() == 1
    assert append_events(session, []) == []


def test_append_starts_the_chain_of_a_case_created_in_the_same_transaction(session):
    case = make_case(session)  # flushed, not committed
    event = note(session, case, "intake")
    session.commit()
    assert (event.seq, event.prev_hash) == (1, GENESIS.hex())


# --- proofs from stored subtrees ----------------------------------------------------------------

LOG_SIZE = 37  # crosses several powers of two, with ragged right edges


@pytest.fixture
def log(session, cases) -> list[bytes]:
    """A log of LOG_SIZE events; returns the leaf hashes, computed from the leaves alone."""
    append_events(
        session,
        [NewEvent(case=cases[n % 3], type=EventType.note, actor="a") for n in range(LOG_SIZE)],
    )
    session.commit()
    hashes = leaf_hashes(session)
    assert len(hashes) == LOG_SIZE
    return hashes


def test_roots_at_every_size_match_an_independent_computation(session, log):
    for size in range(LOG_SIZE + 1):
        assert root_at(session, size=size) == merkle.root(log[:size])
    assert current_root(session) == (LOG_SIZE, merkle.root(log))


def test_inclusion_proofs_verify_for_every_index_and_size(session, log):
    checked = 0
    for size in range(1, LOG_SIZE + 1):
        root = merkle.root(log[:size])
        for index in range(size):
            proof = inclusion_proof(session, index=index, size=size)
            merkle.verify_inclusion(log[index], index, size, proof, root)
            checked += 1
    assert checked == LOG_SIZE * (LOG_SIZE + 1) // 2


def test_consistency_proofs_verify_for_every_pair_of_sizes(session, log):
    checked = 0
    for size2 in range(1, LOG_SIZE + 1):
        root2 = root_at(session, size=size2)
        for size1 in range(size2 + 1):
            proof = consistency_proof(session, size1=size1, size2=size2)
            merkle.verify_consistency(size1, size2, proof, merkle.root(log[:size1]), root2)
            checked += 1
    assert checked == LOG_SIZE * (LOG_SIZE + 3) // 2


def test_a_proof_does_not_verify_against_another_leaf(session, log):
    proof = inclusion_proof(session, index=5, size=LOG_SIZE)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(log[6], 5, LOG_SIZE, proof, merkle.root(log))


def test_proofs_beyond_the_log_are_refused(session, log):
    with pytest.raises(ValueError, match=f"the log has {LOG_SIZE} leaves"):
        inclusion_proof(session, index=0, size=LOG_SIZE + 1)
    with pytest.raises(ValueError, match=f"the log has {LOG_SIZE} leaves"):
        consistency_proof(session, size1=1, size2=LOG_SIZE + 1)
    with pytest.raises(ValueError):
        root_at(session, size=LOG_SIZE + 1)


# --- checkpoints --------------------------------------------------------------------------------


def test_checkpoint_signs_the_current_root_once_per_size(session, signer, log):
    first = sign_log_checkpoint(session, signer=signer, origin=ORIGIN)
    session.commit()
    opened = open_checkpoint(first.note, signer.verifier_key)
    assert (opened.origin, opened.size, opened.root) == (ORIGIN, LOG_SIZE, merkle.root(log))
    assert (first.size, first.root) == (LOG_SIZE, merkle.root(log).hex())
    assert sign_log_checkpoint(session, signer=signer, origin=ORIGIN).id == first.id
    note(session, make_case(session), "one more")
    second = sign_log_checkpoint(session, signer=signer, origin=ORIGIN)
    session.commit()
    assert (second.size, latest_checkpoint(session).id) == (LOG_SIZE + 1, second.id)
    assert session.exec(select(func.count()).select_from(Checkpoint)).one() == 2


def test_checkpoint_refuses_a_truncated_log(session, signer, log):
    sign_log_checkpoint(session, signer=signer, origin=ORIGIN)
    tamper(session, *rewrite_log(stored_leaves(session)[:30]))
    with pytest.raises(TrailError, match=f"has 30 leaves but checkpoint .* at {LOG_SIZE}: .*trunc"):
        sign_log_checkpoint(session, signer=signer, origin=ORIGIN)


@pytest.mark.parametrize("grow", [False, True], ids=["same size", "grown since"])
def test_checkpoint_refuses_a_rewritten_log(session, signer, cases, log, grow):
    sign_log_checkpoint(session, signer=signer, origin=ORIGIN)
    leaves = stored_leaves(session)
    leaves[4] = relinked_leaf(cases[0].reference, "00" * 32)
    tamper(session, *rewrite_log(leaves))
    if grow:  # hidden under newer appends, the old size still tells
        note(session, cases[1], "after the rewrite")
    with pytest.raises(TrailError, match=r"no longer matches checkpoint .* history was rewritten"):
        sign_log_checkpoint(session, signer=signer, origin=ORIGIN)


# --- erasure ------------------------------------------------------------------------------------


def payload_count(session, case) -> int:
    return session.exec(
        select(func.count())
        .select_from(EventPayload)
        .join(CaseEvent, CaseEvent.id == EventPayload.event_id)
        .where(CaseEvent.case_id == case.id)
    ).one()


def test_erasure_drops_payloads_keeps_the_chain_and_records_itself(
    session, cases, signer, blob_store
):
    for n in range(3):
        for case in cases[:2]:
            note(session, case, f"personal detail {n}")
    session.commit()
    erased = erase_payload(session, case=cases[0], actor="operator:dpo", reason="ticket 77")
    session.commit()
    assert (erased.seq, erased.type) == (4, EventType.erased)
    records = case_records(session, case_id=cases[0].id)
    assert [r.payload is None for r in records] == [True, True, True, False]
    assert json.loads(records[-1].payload) == {"reason": "ticket 77", "through_seq": 3}
    assert payload_count(session, cases[1]) == 3  # other cases untouched
    assert_chain(session, cases[0], 4)
    report = verify_trail(session, verifier_key=signer.verifier_key, store=blob_store)
    assert (report.events, report.erased) == (7, 3)


@pytest.mark.parametrize("kind", ["legal", "preservation"])
def test_erasure_is_refused_while_a_hold_is_active(session, cases, kind):
    note(session, cases[0], "kept for the court")
    session.add(Hold(case_id=cases[0].id, kind=kind, reason="order", until=utcnow() + timedelta(1)))
    session.commit()
    with pytest.raises(ErasureRefused, match=f"under a {kind} hold until"):
        erase_payload(session, case=cases[0], actor="operator:dpo", reason="request")
    session.rollback()
    assert payload_count(session, cases[0]) == 1
    assert len(events_of(session, cases[0])) == 1


def test_an_expired_hold_no_longer_blocks_erasure(session, cases):
    note(session, cases[0], "old")
    past = utcnow() - timedelta(days=1)
    session.add(Hold(case_id=cases[0].id, kind="legal", reason="ended", until=past))
    session.commit()
    erase_payload(session, case=cases[0], actor="operator:dpo", reason="retention ended")
    session.commit()
    assert payload_count(session, cases[0]) == 1  # only the erasure event's own payload


# --- blobs ---------------------------------------------------------------------------------------


def put(session, blob_store, data: bytes, *, restricted=False, max_size=1 << 20) -> Blob:
    return store_blob(
        session,
        store=blob_store,
        stream=io.BytesIO(data),
        media_type="image/png",
        restricted=restricted,
        max_size=max_size,
    )


def test_blob_is_content_addressed_with_all_three_hashes(session, blob_store):
    data = b"\x89PNG evidence " * 5000  # several read chunks
    blob = put(session, blob_store, data)
    session.commit()
    sha = hashlib.sha256(data).hexdigest()
    assert (blob.sha256, blob.md5, blob.sha1, blob.size) == (
        sha,
        hashlib.md5(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
        len(data),
    )
    path = blob_store.path(sha, restricted=False)
    assert path == blob_store.root / "blobs" / sha[:2] / sha[2:4] / sha
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o444  # read-only once written
    with blob_store.open(sha, restricted=False) as handle:
        assert handle.read() == data


def test_restricted_blobs_live_in_their_own_area(session, blob_store):
    blob = put(session, blob_store, b"child-safety media", restricted=True)
    assert blob.restricted
    assert blob_store.path(blob.sha256, restricted=True).exists()
    assert not blob_store.path(blob.sha256, restricted=False).exists()
    assert "blobs-restricted" in str(blob_store.path(blob.sha256, restricted=True))


def test_same_content_is_stored_once(session, blob_store):
    first = put(session, blob_store, b"same bytes")
    session.commit()
    second = put(session, blob_store, b"same bytes")
    again = put(session, blob_store, b"same bytes")  # also within one transaction
    session.commit()
    assert first.sha256 == second.sha256 == again.sha256
    assert session.exec(select(func.count()).select_from(Blob)).one() == 1
    files = [p for p in (blob_store.root / "blobs").rglob("*") if p.is_file()]
    assert files == [blob_store.path(first.sha256, restricted=False)]


def test_blob_over_the_size_cap_keeps_nothing(session, blob_store):
    put(session, blob_store, b"x" * 100, max_size=100)  # exactly the cap is fine
    with pytest.raises(BlobTooLarge):
        put(session, blob_store, b"y" * 200_000, max_size=100_000)
    session.commit()
    files = [p.name for p in (blob_store.root / "blobs").rglob("*") if p.is_file()]
    assert files == [hashlib.sha256(b"x" * 100).hexdigest()]  # no partial or temporary file
    assert session.exec(select(func.count()).select_from(Blob)).one() == 1


@pytest.mark.parametrize("name", ["../../etc/passwd", "AB" * 32, "ab" * 31])
def test_blob_paths_take_only_sha256_names(blob_store, name):
    with pytest.raises(ValueError, match="not a SHA-256"):
        blob_store.path(name, restricted=False)
