"""The per-case hash chain: building headers and catching every kind of edit to a chain."""

import dataclasses
import hashlib
import json

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from cases.trail.canonical import CanonicalError
from cases.trail.events import (
    EVENT_DOMAIN,
    GENESIS,
    ChainSummary,
    EventRecord,
    TrailError,
    build_header,
    case_tag,
    entry_hash,
    leaf_data,
    make_event,
    new_salt,
    payload_commitment,
    verify_chain,
)

CASE = "DK-2026-000001"
AT = "2026-11-22T01:46:28.000123Z"
BLOB = hashlib.sha256(b"screenshot").hexdigest()


def chain(count: int, case: str = CASE) -> list[EventRecord]:
    records, prev = [], GENESIS
    for seq in range(1, count + 1):
        record = make_event(
            case_ref=case,
            seq=seq,
            prev=prev,
            type="note_added",
            actor="user:7",
            at=AT,
            payload={"text": f"note {seq}", "by": 7},
            blobs=[BLOB] if seq == 2 else [],
        )
        records.append(record)
        prev = record.entry_hash
    return records


def resealed(record: EventRecord, header: bytes) -> EventRecord:
    """What a forger does after editing a header: recompute its entry hash."""
    return dataclasses.replace(record, header=header, entry_hash=entry_hash(header))


def header_dict(record: EventRecord) -> dict:
    return json.loads(record.header)


def test_a_good_chain_verifies():
    records = chain(5)
    assert verify_chain(CASE, records) == ChainSummary(
        count=5, head=records[-1].entry_hash, blobs={BLOB}, erased=0
    )
    assert verify_chain(CASE, []) == ChainSummary(count=0, head=GENESIS, blobs=set(), erased=0)


def test_header_layout_and_hashes():
    salt = bytes(range(32))
    payload = b'{"text":"hi"}'
    commit = payload_commitment(salt, payload)
    assert commit == hashlib.sha256(salt + payload).digest()
    header = build_header(
        case_ref=CASE,
        seq=1,
        prev=GENESIS,
        type="intake",
        actor="system",
        at=AT,
        payload_commit=commit,
        blobs=[BLOB],
    )
    assert (
        header
        == (
            '{"actor":"system","at":"2026-11-22T01:46:28.000123Z","blobs":["'
            + BLOB
            + f'"],"case_id":"{CASE}","payload_commit":"{commit.hex()}","prev":"{"0" * 64}",'
            '"seq":1,"type":"intake","v":1}'
        ).encode()
    )
    assert entry_hash(header) == hashlib.sha256(b"docket/event/v1\n" + header).digest()
    assert EVENT_DOMAIN == b"docket/event/v1\n"
    tag = hashlib.sha256(b"docket/case/v1\n" + CASE.encode()).digest()
    assert case_tag(CASE) == tag
    assert leaf_data(CASE, entry_hash(header)) == tag + entry_hash(header)
    assert len(new_salt()) == 32 and new_salt() != new_salt()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seq": 0}, "seq"),
        ({"seq": True}, "strings and integers"),
        ({"seq": 1.0}, "strings and integers"),
        ({"prev": GENESIS[:31]}, "prev must be 32 bytes"),
        ({"payload_commit": "00" * 32}, "payload_commit must be 32 bytes"),
        ({"type": ""}, "must not be empty"),
        ({"actor": None}, "strings and integers"),
        ({"actor": "\ud800"}, "valid Unicode"),
        ({"at": "2026-11-22T01:46:28Z"}, "canonical UTC timestamp"),
        ({"at": "2026-02-30T01:46:28.000000Z"}, "canonical UTC timestamp"),
        ({"blobs": ["ABC"]}, "blobs"),
        ({"blobs": [BLOB.upper()]}, "blobs"),
    ],
)
def test_build_header_refuses_what_the_verifier_would_reject(change, message):
    fields = dict(
        case_ref=CASE,
        seq=1,
        prev=GENESIS,
        type="t",
        actor="a",
        at=AT,
        payload_commit=bytes(32),
        blobs=[],
    )
    with pytest.raises(ValueError, match=message):
        build_header(**{**fields, **change})


def test_payloads_must_be_integer_json():
    with pytest.raises(CanonicalError, match="float"):
        make_event(
            case_ref=CASE, seq=1, prev=GENESIS, type="t", actor="a", at=AT, payload={"x": 0.1}
        )


# --- what a chain catches ---------------------------------------------------------------------


def test_edited_payload():
    records = chain(4)
    records[2] = dataclasses.replace(records[2], payload=b'{"by":7,"text":"edited"}')
    with pytest.raises(TrailError, match=f"case {CASE} event 3: payload does not match"):
        verify_chain(CASE, records)


def test_edited_header_not_rehashed():
    records = chain(4)
    records[1] = dataclasses.replace(
        records[1], header=records[1].header.replace(b"user:7", b"user:8")
    )
    with pytest.raises(TrailError, match="event 2: entry hash does not match its header"):
        verify_chain(CASE, records)


def test_edited_header_rehashed_breaks_the_next_link():
    records = chain(4)
    records[1] = resealed(records[1], records[1].header.replace(b"user:7", b"user:8"))
    with pytest.raises(TrailError, match="event 3: stored prev hash does not link"):
        verify_chain(CASE, records)


def test_relinked_prev_hash_still_disagrees_with_the_header():
    records = chain(4)
    records[1] = resealed(records[1], records[1].header.replace(b"user:7", b"user:8"))
    records[2] = dataclasses.replace(records[2], prev_hash=records[1].entry_hash)
    with pytest.raises(TrailError, match="event 3: header prev does not link"):
        verify_chain(CASE, records)


def test_deleted_middle_event():
    records = chain(5)
    del records[2]
    with pytest.raises(TrailError, match="event 3: expected seq 3, found 4"):
        verify_chain(CASE, records)


def test_deleted_last_event_is_invisible_to_the_chain_alone():
    # Documented limitation: the bundle verifier's completeness check against the log's
    # case-tagged leaves is what catches this (tests/trail/test_bundle.py).
    assert verify_chain(CASE, chain(5)[:4]).count == 4


def test_reordered_events():
    records = chain(4)
    records[1], records[2] = records[2], records[1]
    with pytest.raises(TrailError, match="event 2: expected seq 2, found 3"):
        verify_chain(CASE, records)


def test_renumbered_after_deletion():
    records = chain(4)
    del records[1]
    records[1] = dataclasses.replace(records[1], seq=2)
    with pytest.raises(TrailError, match="event 2: stored prev hash does not link"):
        verify_chain(CASE, records)


def test_events_of_another_case():
    with pytest.raises(TrailError, match="event 1: header names case 'DK-2026-000002'"):
        verify_chain(CASE, chain(2, case="DK-2026-000002"))


def erased(record: EventRecord) -> EventRecord:
    return dataclasses.replace(record, payload=None, salt=None)


def erasure_event(records: list[EventRecord]) -> EventRecord:
    return make_event(
        case_ref=CASE,
        seq=len(records) + 1,
        prev=records[-1].entry_hash,
        type="erased",
        actor="system",
        at=AT,
        payload={"erased": [2]},
    )


def test_erased_payload_passes_with_a_later_erasure_event():
    records = chain(3)
    records[1] = erased(records[1])
    records.append(erasure_event(records))
    summary = verify_chain(CASE, records)
    assert (summary.count, summary.erased) == (4, 1)


def test_erased_payload_without_an_erasure_event():
    records = chain(3)
    records[1] = erased(records[1])
    with pytest.raises(TrailError, match="event 2: payload erased without a later 'erased'"):
        verify_chain(CASE, records)


def test_erasure_event_must_come_after_the_erased_payload():
    records = chain(3)
    records.append(erasure_event(records))
    records[3] = erased(records[3])
    with pytest.raises(TrailError, match="event 4: payload erased without"):
        verify_chain(CASE, records)


def test_payload_and_salt_go_together():
    records = chain(2)
    with pytest.raises(TrailError, match="event 1: salt kept for an erased payload"):
        verify_chain(CASE, [dataclasses.replace(records[0], payload=None), records[1]])
    with pytest.raises(TrailError, match="event 1: payload without its 32-byte salt"):
        verify_chain(CASE, [dataclasses.replace(records[0], salt=None), records[1]])


def test_bytes_cannot_move_between_salt_and_payload():
    record = chain(1)[0]
    # Same concatenation, so the same commitment: only the fixed salt length tells them apart.
    shifted = dataclasses.replace(
        record, salt=record.salt + record.payload[:1], payload=record.payload[1:]
    )
    with pytest.raises(TrailError, match="32-byte salt"):
        verify_chain(CASE, [shifted])


# --- canonical header bytes -----------------------------------------------------------------


def _rewritten(record: EventRecord, rewrite) -> EventRecord:
    return resealed(record, rewrite(record.header.decode()).encode("utf-8"))


@pytest.mark.parametrize(
    ("rewrite", "message"),
    [
        (lambda h: h.replace(",", ", ", 1), "not in canonical"),
        (lambda h: h + " ", "not in canonical"),
        (lambda h: h.replace('"v":1', '"v":1.0'), "not in canonical"),
        (lambda h: h.replace('"v":1', '"v":true'), "not in canonical"),
        (lambda h: h.replace('"v":1', '"v":2'), "version 2 is not 1"),
        (lambda h: h.replace('"seq":1', '"seq":1e0'), "not in canonical"),
        (lambda h: h.replace('"seq":1', '"seq":01'), "not JSON"),
        (lambda h: h.replace('"seq":1', '"seq":2'), "says seq 2"),
        (lambda h: h.replace("user:7", "\\u0075ser:7"), "not in canonical"),
        (lambda h: h.replace('"v":1}', '"v":1,"v":1}'), "not in canonical"),
        (lambda h: h.replace('"v":1}', '"v":1,"x":0}'), "exactly the v1 fields"),
        (lambda h: h.replace(',"v":1}', "}"), "exactly the v1 fields"),
        (lambda h: "[" + h + "]", "not a JSON object"),
        (lambda h: h[:-1], "not JSON"),
        (lambda h: h.replace('"blobs":[]', f'"blobs":["{BLOB.upper()}"]'), "blobs must be"),
        (lambda h: h.replace('"blobs":[]', '"blobs":{}'), "not in canonical"),
        (lambda h: h.replace('"actor":"user:7"', '"actor":""'), "must not be empty"),
        (lambda h: h.replace(AT, AT.replace(".000123", "")), "canonical UTC timestamp"),
        (lambda h: h.replace(AT, AT[:-1] + "+00:00"), "canonical UTC timestamp"),
        (lambda h: h.replace('"actor":"user:7","at"', '"at"'), "exactly the v1 fields"),
    ],
)
def test_non_canonical_or_invalid_headers(rewrite, message):
    record = chain(1)[0]
    with pytest.raises(TrailError, match=f"event 1: .*{message}"):
        verify_chain(CASE, [_rewritten(record, rewrite)])


def test_header_bytes_must_be_utf8():
    record = chain(1)[0]
    bad = resealed(record, record.header.replace(b"user:7", b"user:\xff"))
    with pytest.raises(TrailError, match="event 1: header is not UTF-8"):
        verify_chain(CASE, [bad])


def test_header_with_uppercase_prev_hex():
    records = chain(2)
    second = _rewritten(
        records[1],
        lambda h: h.replace(records[0].entry_hash.hex(), records[0].entry_hash.hex().upper()),
    )
    with pytest.raises(TrailError, match="event 2: header prev does not link"):
        verify_chain(CASE, [records[0], second])


text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)


@given(
    case=text,
    kind=text,
    actor=text,
    seq=st.integers(1, 2**53 - 1),
    blobs=st.lists(st.binary(min_size=1, max_size=4), max_size=3),
)
def test_headers_are_rfc8785_and_verify(case, kind, actor, seq, blobs):
    names = [hashlib.sha256(b).hexdigest() for b in blobs]
    commit = hashlib.sha256(case.encode()).digest()
    header = build_header(
        case_ref=case,
        seq=seq,
        prev=GENESIS,
        type=kind,
        actor=actor,
        at=AT,
        payload_commit=commit,
        blobs=names,
    )
    fields = json.loads(header)
    assert header == rfc8785.dumps(fields)
    assert (fields["case_id"], fields["type"], fields["actor"], fields["seq"]) == (
        case,
        kind,
        actor,
        seq,
    )
    if seq == 1:
        record = EventRecord(
            seq=1,
            header=header,
            entry_hash=entry_hash(header),
            prev_hash=GENESIS,
            payload=None,
            salt=None,
            log_index=None,
        )
        erasure = make_event(
            case_ref=case,
            seq=2,
            prev=record.entry_hash,
            type="erased",
            actor=actor,
            at=AT,
            payload=[1],
        )
        assert verify_chain(case, [record, erasure]).blobs == set(names)
