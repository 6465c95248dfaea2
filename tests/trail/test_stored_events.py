"""check_stored_events and join_segments, the database-scale form of verify_chain: they must
accept nothing verify_chain refuses (whatever they do not accept is verify_chain's to judge), and
agree with it on what they accept."""

import json
from collections.abc import Callable
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.trail.canonical import parse_utc_timestamp
from cases.trail.events import (
    GENESIS,
    EventRecord,
    StoredEvent,
    TrailError,
    check_stored_events,
    join_segments,
    leaf_data,
    make_event,
    verify_chain,
)
from tests.trail.test_events import AT, BLOB, erased, resealed

REFERENCES = {1: "DK-2026-000001", 2: "DK-2026-000002", 3: "DK-2026-\u00e9t\u00e9"}


def chain(case_id: int, count: int, *, erase: int = 0, actor: str = "user:7") -> list[StoredEvent]:
    """A chain as stored; with `erase`, its first `erase` payloads erased and an erasure event."""
    reference = REFERENCES[case_id]
    records, prev = [], GENESIS
    for seq in range(1, count + 1):
        record = make_event(
            case_ref=reference,
            seq=seq,
            prev=prev,
            type="erased" if erase and seq == count else "note",
            actor=actor,
            at=AT,
            payload={"text": f"note {seq}"},
            blobs=[BLOB] if seq % 3 == 0 else [],
        )
        records.append(erased(record) if seq <= erase else record)
        prev = record.entry_hash
    return [stored(case_id, record) for record in records]


def stored(case_id: int, record: EventRecord) -> StoredEvent:
    return (
        case_id,
        record.seq,
        record.header.decode(),
        record.entry_hash.hex(),
        record.prev_hash.hex(),
        None if record.payload is None else record.payload.decode(),
        None if record.salt is None else record.salt.hex(),
        leaf_data(REFERENCES[case_id], record.entry_hash),
    )


def record(row: StoredEvent) -> EventRecord:
    _, seq, header, entry, prev, payload, salt, _ = row
    return EventRecord(
        seq=seq,
        header=header.encode(),
        entry_hash=bytes.fromhex(entry),
        prev_hash=bytes.fromhex(prev),
        payload=None if payload is None else payload.encode(),
        salt=None if salt is None else bytes.fromhex(salt),
        log_index=None,
    )


def judged(rows: list[StoredEvent], parts: int = 1) -> tuple[dict, set[int]]:
    """check_stored_events over `parts` consecutive slices of rows, then join_segments."""
    cuts = [len(rows) * n // parts for n in range(parts + 1)]
    checked = [check_stored_events(rows[a:b]) for a, b in pairwise(cuts)]
    suspects = set().union(*(s for _, s in checked))
    return join_segments([segments for segments, _ in checked], REFERENCES, suspects), suspects


def verify_slowly(rows: list[StoredEvent], case_id: int):
    """What the audit does with a suspect: verify_chain over the case's rows in seq order."""
    mine = sorted((row for row in rows if row[0] == case_id), key=lambda row: row[1])
    reference = REFERENCES[case_id]
    for row in mine:
        if row[7] != leaf_data(reference, bytes.fromhex(row[3])):
            raise TrailError("not the leaf")
    return verify_chain(reference, [record(row) for row in mine])


def interleaved(*chains: list[StoredEvent]) -> list[StoredEvent]:
    """Round robin, as events of concurrent cases come in id order."""
    rows = []
    for position in range(max(map(len, chains))):
        rows += [c[position] for c in chains if position < len(c)]
    return rows


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_interleaved_chains_agree_with_verify_chain(parts):
    rows = interleaved(chain(1, 7), chain(2, 5, erase=2), chain(3, 4, actor="\u00e9quipe"))
    chains, suspects = judged(rows, parts)
    assert suspects == set()
    assert chains == {case_id: verify_slowly(rows, case_id) for case_id in (1, 2, 3)}
    assert (chains[1].count, chains[1].blobs, chains[2].erased) == (7, {BLOB}, 2)


def swap(rows, i, j):
    rows[i], rows[j] = rows[j], rows[i]


def field(index: int, value) -> Callable:
    def edit(rows):
        row = list(rows[4])
        row[index] = value(row[index]) if callable(value) else value
        rows[4] = tuple(row)

    return edit


def header_edit(old: str, new: str, *, rehash: bool = True, leaf: bool = True) -> Callable:
    """The header edited; then its entry hash, and the leaf, recomputed as a forger would."""

    def edit(rows):
        case_id, seq, header, *rest = rows[4]
        rows[4] = (case_id, seq, header.replace(old, new), *rest)
        if rehash:
            forged = stored(case_id, resealed(record(rows[4]), rows[4][2].encode()))
            rows[4] = forged if leaf else (*forged[:7], rows[4][7])

    return edit


# Row 4 is case 1's third and last event (so no later link can give an edit away); each edit
# must leave case 1 suspect.
EDITS = {
    "seq": field(1, 9),
    "entry hash": field(3, "0" * 64),
    "entry hash, upper case": field(3, str.upper),
    "prev hash": field(4, "0" * 64),
    "payload": field(5, '{"text":"edited"}'),
    "payload erased, salt kept": field(5, None),
    "salt": field(6, "00" * 32),
    "salt dropped": field(6, None),
    "salt not hex": field(6, "zz" * 32),
    "salt short": field(6, "00" * 31),
    "salt and payload shifted": lambda rows: rows.__setitem__(4, _shifted(rows[4])),
    "leaf": field(7, b"\0" * 64),
    "no leaf": field(7, None),
    "header": header_edit("user:7", "user:8", rehash=False),
    "header re-hashed": header_edit("user:7", "user:8", leaf=False),
    "header with an escape": header_edit("user:7", 'user:\\"7'),
    "header time": header_edit(AT, AT.replace("-11-22", "-02-30")),
    "header time without micros": header_edit(AT, AT.replace(".000123", "")),
    "header case": header_edit("DK-2026-000001", "DK-2026-000002"),
    "header seq": header_edit('"seq":3', '"seq":4'),
    "header seq spelled": header_edit('"seq":3', '"seq":03'),
    "header version": header_edit('"v":1', '"v":2'),
    "events swapped": lambda rows: swap(rows, 2, 4),
    "event deleted": lambda rows: rows.pop(2),
    "event repeated": lambda rows: rows.insert(5, rows[4]),
    "another case's event": lambda rows: rows.__setitem__(5, (1, *rows[5][1:])),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
@pytest.mark.parametrize("parts", [1, 2, 4])
def test_every_edit_leaves_the_chain_to_verify_chain(edit, parts):
    rows = interleaved(chain(1, 3), chain(2, 6))
    assert rows[4][:2] == (1, 3)
    edit(rows)
    chains, suspects = judged(rows, parts)
    assert 1 in suspects and 1 not in chains
    assert chains.keys() | suspects == {1, 2}


def _shifted(row: StoredEvent) -> StoredEvent:
    """A byte moved from the payload to the salt: the same commitment, if no fixed salt length."""
    *head, payload, salt, leaf = row
    return (*head, payload[1:], salt + payload[:1].encode().hex(), leaf)


def test_the_header_prev_must_match_even_on_the_last_event():
    rows = chain(1, 3)
    last = record(rows[2])
    forged = last.header.replace(last.prev_hash.hex().encode(), b"0" * 64)
    rows[2] = stored(1, resealed(last, forged))  # the stored prev hash still links
    assert judged(rows)[1] == {1}
    with pytest.raises(TrailError, match="event 3: header prev does not link"):
        verify_slowly(rows, 1)


def test_an_escaped_header_is_left_to_verify_chain_which_accepts_it():
    rows = chain(1, 3, actor='reviewer "K"')
    chains, suspects = judged(rows)
    assert (chains, suspects) == ({}, {1})
    assert verify_slowly(rows, 1).count == 3


def test_events_out_of_id_order_are_left_to_verify_chain():
    rows = chain(1, 4)
    swap(rows, 1, 2)
    assert judged(rows)[1] == {1}
    assert verify_slowly(rows, 1).count == 4


def test_a_case_without_a_reference_is_suspect():
    rows = [(9, *row[1:]) for row in chain(1, 2)]
    assert judged(rows) == ({}, {9})


def test_an_erased_payloads_commitment_must_still_be_hex():
    # Forged and the chain re-linked after it: only the commitment's spelling gives it away.
    records: list[EventRecord] = []
    for seq, type_ in ((1, "note"), (2, "note"), (3, "erased")):
        prev = records[-1].entry_hash if records else GENESIS
        records.append(
            make_event(
                case_ref=REFERENCES[1],
                seq=seq,
                prev=prev,
                type=type_,
                actor="user:7",
                at=AT,
                payload={},
            )
        )
        if seq == 1:
            commit = json.loads(records[0].header)["payload_commit"]
            forged = records[0].header.replace(commit.encode(), b"Z" * 64)
            records[0] = erased(resealed(records[0], forged))
    rows = [stored(1, r) for r in records]
    assert judged(rows)[1] == {1}
    with pytest.raises(TrailError, match="event 1: header payload_commit is not 64 lowercase hex"):
        verify_slowly(rows, 1)


def test_a_chain_filed_under_another_case_is_suspect():
    # Case 2's whole chain stored under case id 1: consistent in itself, but not case 1's.
    assert judged([(1, *row[1:]) for row in chain(2, 3)]) == ({}, {1})
    # Case 1's chain with case 2's tag on every leaf.
    retagged = [(*row[:7], leaf_data(REFERENCES[2], bytes.fromhex(row[3]))) for row in chain(1, 3)]
    assert judged(retagged) == ({}, {1})


def test_erasure_rules():
    rows = chain(1, 4, erase=2)
    assert judged(rows)[0][1].erased == 2
    # The payloads erased but no erasure event after them: the last event dropped.
    assert judged(rows[:3])[1] == {1}
    # An erasure event erases earlier payloads only: its own payload erased too.
    rows = chain(1, 4, erase=4)
    assert judged(rows)[1] == {1}


@pytest.mark.parametrize("parts", [2, 3])
def test_segments_must_link_up_from_genesis(parts):
    rows = chain(1, 6)
    assert judged(rows[1:], parts)[1] == {1}  # the first event missing
    assert judged(rows[:2] + rows[3:], parts)[1] == {1}  # a gap at or inside a segment
    assert judged(rows, parts)[1] == set()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_whatever_is_accepted_verify_chain_accepts(data):
    rows = interleaved(chain(1, 5, erase=data.draw(st.integers(0, 2))), chain(2, 4))
    for _ in range(data.draw(st.integers(0, 2))):
        at = data.draw(st.integers(0, len(rows) - 1))
        column = data.draw(st.sampled_from([1, 2, 3, 4, 5, 6, 7]))
        donor = rows[data.draw(st.integers(0, len(rows) - 1))][column]
        values = [st.just(donor), st.just(_flipped(donor))]
        if column >= 5:  # payload, salt and leaf may be missing; the other columns are NOT NULL
            values.append(st.none())
        value = data.draw(st.one_of(values))
        rows[at] = (*rows[at][:column], value, *rows[at][column + 1 :])
    chains, suspects = judged(rows, data.draw(st.integers(1, 4)))
    for case_id, summary in chains.items():
        assert verify_slowly(rows, case_id) == summary


def _flipped(value):
    """`value` with one bit of its first character, byte or digit changed."""
    if isinstance(value, int):
        return value ^ 1
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:]
    if isinstance(value, str):
        return chr(ord(value[0]) ^ 1) + value[1:]
    return value


TIMES = st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


@given(at=st.one_of(TIMES, st.text(max_size=30)))
def test_header_times_are_judged_as_parse_utc_timestamp_does(at):
    first = record(chain(1, 1)[0])
    header = first.header.replace(AT.encode(), at.encode())
    row = stored(1, resealed(first, header))
    try:
        parse_utc_timestamp(at)
    except ValueError:
        assert judged([row])[1] == {1}
    else:
        assert judged([row])[1] == set()
