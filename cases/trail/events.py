"""The per-case hash chain: event headers, commitments, and their verification.

An event's header is the JCS text of {v, case_id, seq, prev, type, actor, at, payload_commit,
blobs}; its entry hash is SHA-256(EVENT_DOMAIN || header) and the next event's `prev`. The
payload is committed to, not included, so erasing it (payload and salt deleted) leaves the chain
intact. `verify_chain` is the check used by both the database-side `trail verify` and the
offline bundle verifier; at database scale `trail verify` first runs `check_stored_events` over
the stored rows, which accepts nothing verify_chain would refuse and leaves to it whatever it
does not accept outright.

Each entry hash is also a leaf of the global Merkle log, as `leaf_data` = case tag || entry hash.
The tag lets a verifier holding every leaf prove completeness: each leaf carrying a case's tag
must be matched by an event of that case.
"""

import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cases.trail.canonical import CanonicalError, canonical, parse_utc_timestamp

__all__ = [
    "EVENT_DOMAIN",
    "GENESIS",
    "ChainSegment",
    "ChainSummary",
    "EventRecord",
    "StoredEvent",
    "TrailError",
    "build_header",
    "case_tag",
    "check_stored_events",
    "entry_hash",
    "join_segments",
    "leaf_data",
    "make_event",
    "new_salt",
    "payload_commitment",
    "verify_chain",
]

GENESIS = bytes(32)
_GENESIS_HEX = GENESIS.hex()
EVENT_DOMAIN = b"docket/event/v1\n"
CASE_DOMAIN = b"docket/case/v1\n"
ERASED = "erased"  # the event type that records an erasure
HEADER_VERSION = 1
SALT_SIZE = 32

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEADER_KEYS = frozenset(
    ("v", "case_id", "seq", "prev", "type", "actor", "at", "payload_commit", "blobs")
)
_MAX_SEQ = 2**53 - 1  # JCS integers must be exact in an IEEE double
_sha256 = hashlib.sha256
_DECODER = json.JSONDecoder()
# Fast path of the canonical check (most headers): the exact JCS layout of a v1 header whose
# strings need no escaping. Anything else takes the general parse-and-re-render path.
_PLAIN = r'"([^"\\\x00-\x1f]+)"'
_HEX_LIST = r'((?:"[0-9a-f]{64}"(?:,"[0-9a-f]{64}")*)?)'
_PLAIN_HEADER = re.compile(
    rf'\{{"actor":{_PLAIN},"at":{_PLAIN},"blobs":\[{_HEX_LIST}\],"case_id":{_PLAIN},'
    rf'"payload_commit":{_PLAIN},"prev":{_PLAIN},"seq":([1-9][0-9]*),"type":{_PLAIN},"v":1\}}'
)
# For check_stored_events: the time in canonical.utc_timestamp's shape (datetime.fromisoformat
# then checks the calendar, as parse_utc_timestamp does), and the hashes as any 64 characters
# but quotes, which is quicker to match than hex digits: check_stored_events compares them with
# hashes it knows (or, for an erased payload's commitment, checks the hex itself). Then
# _PLAIN_HEADER matches too, with the same groups.
_HASH = r'"([^"]{64})"'
_TIME = r'"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z)"'
_STORED_HEADER = re.compile(
    rf'\{{"actor":{_PLAIN},"at":{_TIME},"blobs":\[{_HEX_LIST}\],"case_id":{_PLAIN},'
    rf'"payload_commit":{_HASH},"prev":{_HASH},"seq":([1-9][0-9]*),"type":{_PLAIN},"v":1\}}'
)
_escape = json.encoder.encode_basestring  # the C escaper; output is non-ASCII-preserving


class TrailError(ValueError):
    """The chain does not verify; the message says which case, which event and what failed."""


@dataclass(frozen=True)
class EventRecord:
    """One chain link as stored: exact header bytes, hashes, and the payload unless erased."""

    seq: int
    header: bytes
    entry_hash: bytes
    prev_hash: bytes
    payload: bytes | None  # JCS bytes; None once erased
    salt: bytes | None  # None once erased
    log_index: int | None


@dataclass(frozen=True)
class ChainSummary:
    """What a verified chain contains."""

    count: int
    head: bytes  # entry hash of the last event, GENESIS for an empty chain
    blobs: set[str]  # SHA-256 hex names of every blob the headers reference
    erased: int  # events whose payload has been erased


def new_salt() -> bytes:
    """32 random bytes: without a salt, a small payload could be guessed from its commitment."""
    return secrets.token_bytes(SALT_SIZE)


def payload_commitment(salt: bytes, payload_bytes: bytes) -> bytes:
    """SHA-256(salt || JCS payload)."""
    return _sha256(salt + payload_bytes).digest()


def build_header(
    *,
    case_ref: str,
    seq: int,
    prev: bytes,
    type: str,
    actor: str,
    at: str,
    payload_commit: bytes,
    blobs: Sequence[str],
) -> bytes:
    """The canonical (JCS) header bytes; refuses any value the verifier would reject."""
    # `type` is a field name here, so no type() calls in this function.
    for name, value in (("prev", prev), ("payload_commit", payload_commit)):
        if not isinstance(value, bytes) or len(value) != 32:
            raise ValueError(f"{name} must be 32 bytes")
    fields = {
        "v": HEADER_VERSION,
        "case_id": case_ref,
        "seq": seq,
        "prev": prev.hex(),
        "type": type,
        "actor": actor,
        "at": at,
        "payload_commit": payload_commit.hex(),
        "blobs": list(blobs),
    }
    try:
        header = _render(fields).encode("utf-8")
    except (TypeError, UnicodeEncodeError):
        raise ValueError("invalid event header: strings and integers only, valid Unicode") from None
    # The verifier's own check, so that nothing is written that would later fail it.
    _header_fields(case_ref, seq, header)
    return header


def entry_hash(header: bytes) -> bytes:
    """SHA-256(EVENT_DOMAIN || header)."""
    return _sha256(EVENT_DOMAIN + header).digest()


def case_tag(case_ref: str) -> bytes:
    """SHA-256(CASE_DOMAIN || case ref): marks a case's leaves without naming the case."""
    return _sha256(CASE_DOMAIN + case_ref.encode("utf-8")).digest()


def leaf_data(case_ref: str, entry_hash: bytes) -> bytes:
    """The 64-byte Merkle log leaf of an event: case tag || entry hash."""
    return case_tag(case_ref) + entry_hash


def make_event(
    *,
    case_ref: str,
    seq: int,
    prev: bytes,
    type: str,
    actor: str,
    at: str,
    payload: Any,
    blobs: Sequence[str] = (),
    log_index: int | None = None,
) -> EventRecord:
    """Seal a new chain link: canonical payload, fresh salt, commitment, header, entry hash."""
    payload_bytes = canonical(payload)
    salt = new_salt()
    header = build_header(
        case_ref=case_ref,
        seq=seq,
        prev=prev,
        type=type,
        actor=actor,
        at=at,
        payload_commit=payload_commitment(salt, payload_bytes),
        blobs=blobs,
    )
    return EventRecord(
        seq=seq,
        header=header,
        entry_hash=entry_hash(header),
        prev_hash=prev,
        payload=payload_bytes,
        salt=salt,
        log_index=log_index,
    )


def verify_chain(case_ref: str, events: Iterable[EventRecord]) -> ChainSummary:
    """Verify one case's chain, given in seq order, from its first event.

    Checks contiguous seq from 1, canonical header bytes with the expected fields, the stored
    entry and prev hashes, the links, payload commitments, and that every erased payload is
    followed by an `erased` event. A chain cannot see that events were cut off its end: the
    bundle verifier's completeness check against the log does.
    """
    prev, count, blobs, erased = GENESIS, 0, set(), 0
    last_erased_payload = last_erasure = 0
    for event in events:
        count += 1
        fields = _check_event(case_ref, count, prev, event)
        blobs.update(fields["blobs"])
        if event.payload is None:
            erased += 1
            last_erased_payload = count
        if fields["type"] == ERASED:
            last_erasure = count
        prev = event.entry_hash
    # An erasure event erases earlier payloads, never its own.
    if last_erased_payload and last_erased_payload >= last_erasure:
        raise _fail(case_ref, last_erased_payload, "payload erased without a later 'erased' event")
    return ChainSummary(count=count, head=prev, blobs=blobs, erased=erased)


# --- the same checks over stored rows, at database scale ----------------------------------------

# (case id, seq, header, entry hash hex, prev hash hex, payload or None, salt hex or None,
# the log leaf at the event's log index or None): how the database stores an event.
StoredEvent = tuple[int, int, str, str, str, str | None, str | None, bytes | None]


@dataclass(slots=True)
class ChainSegment:
    """Consecutive events of one chain that passed every check of verify_chain, and their leaves;
    where it starts, and that it belongs to its case, is left to `join_segments`."""

    case_ref: str  # as its headers name it
    tag: bytes  # as its leaves carry it
    first_seq: int
    first_prev: str  # the first event's stored prev hash, hex
    seq: int  # the last event's
    head: str  # the last event's entry hash, hex
    erased: int = 0
    last_erased_payload: int = 0
    last_erasure: int = 0
    blobs: set[str] = field(default_factory=set)


def check_stored_events(rows: Iterable[StoredEvent]) -> tuple[dict[int, ChainSegment], set[int]]:
    """verify_chain's checks over many chains' stored events at once, in any interleaving that
    keeps each chain's events in seq order (log order, say), plus each event's leaf.

    Returns one segment per case id, and the `suspect` case ids: those with any event this fast
    path does not accept outright (an escaped header, an event out of order, any failed check).
    It accepts nothing verify_chain would refuse; suspects are for verify_chain to judge, and to
    name the failure in its own words.
    """
    segments: dict[int, ChainSegment] = {}
    suspects: set[int] = set()
    # Copies of primed hash objects: creating one from scratch costs more than hashing a header.
    new_event_hash, new_hash = _sha256(EVENT_DOMAIN).copy, _sha256().copy
    match_header = _STORED_HEADER.fullmatch
    fromhex, parse_time = bytes.fromhex, datetime.fromisoformat
    for case_id, seq, header, entry, prev, payload, salt, leaf in rows:
        segment = segments.get(case_id)
        if segment is None and case_id in suspects:
            continue
        # Any failed check raises ValueError or TypeError (a None where bytes or text belong).
        try:
            fields = match_header(header)
            if fields is None:
                raise ValueError
            _, at, blobs, case_ref, commit, header_prev, header_seq, type_ = fields.groups()
            if segment is None:
                segment = segments[case_id] = ChainSegment(
                    case_ref, leaf[:32], seq, prev, seq - 1, prev
                )
            if (
                seq != segment.seq + 1
                or prev != segment.head
                or header_prev != prev
                or int(header_seq) != seq
                or case_ref != segment.case_ref
            ):
                raise ValueError
            hasher = new_event_hash()
            hasher.update(header.encode("utf-8"))
            digest = hasher.digest()
            head = digest.hex()
            if head != entry or leaf != segment.tag + digest:
                raise ValueError
            parse_time(at)  # the calendar: 2026-02-30 has the right shape
            if payload is None:
                if salt is not None or not _HEX64.fullmatch(commit):
                    raise ValueError
                segment.erased += 1
                segment.last_erased_payload = seq
            else:
                hasher = new_hash()
                salt_bytes = fromhex(salt)
                if len(salt_bytes) != SALT_SIZE:
                    raise ValueError
                hasher.update(salt_bytes)
                hasher.update(payload.encode("utf-8"))
                if hasher.hexdigest() != commit:
                    raise ValueError
        except (ValueError, TypeError):
            segments.pop(case_id, None)
            suspects.add(case_id)
            continue
        if type_ == ERASED:
            segment.last_erasure = seq
        if blobs:
            segment.blobs.update(blobs[1:-1].split('","'))
        segment.seq, segment.head = seq, head
    return segments, suspects


def join_segments(
    parts: Iterable[dict[int, ChainSegment]], references: Mapping[int, str], suspects: set[int]
) -> dict[int, ChainSummary]:
    """Join the segments of each chain, given in chain order, into whole verified chains.

    A chain is added to `suspects` (and left out) if its segments do not link up from genesis,
    name or tag another case than its case id's reference, or erase a payload without a later
    `erased` event; as is any chain with a suspect segment.
    """
    tags = {case_id: case_tag(reference) for case_id, reference in references.items()}
    joined: dict[int, ChainSegment] = {}
    for part in parts:
        for case_id, segment in part.items():
            if case_id in suspects:
                continue
            before = joined.get(case_id)
            seq, head = (before.seq, before.head) if before else (0, _GENESIS_HEX)
            if (
                segment.first_seq != seq + 1
                or segment.first_prev != head
                or segment.case_ref != references.get(case_id)
                or segment.tag != tags[case_id]
            ):
                suspects.add(case_id)
                continue
            if before is not None:
                segment.erased += before.erased
                segment.last_erased_payload = (
                    segment.last_erased_payload or before.last_erased_payload
                )
                segment.last_erasure = segment.last_erasure or before.last_erasure
                segment.blobs |= before.blobs
            joined[case_id] = segment
    chains = {}
    for case_id, chain in joined.items():
        if case_id in suspects:
            continue
        if chain.last_erased_payload and chain.last_erased_payload >= chain.last_erasure:
            suspects.add(case_id)
            continue
        chains[case_id] = ChainSummary(
            count=chain.seq, head=bytes.fromhex(chain.head), blobs=chain.blobs, erased=chain.erased
        )
    return chains


def _check_event(case_ref: str, seq: int, prev: bytes, event: EventRecord) -> dict[str, Any]:
    """Check one link and return its header fields; cheap and telling checks first."""
    if event.seq != seq:
        raise _fail(case_ref, seq, f"expected seq {seq}, found {event.seq}")
    if _sha256(EVENT_DOMAIN + event.header).digest() != event.entry_hash:
        raise _fail(case_ref, seq, "entry hash does not match its header")
    if event.prev_hash != prev:
        raise _fail(case_ref, seq, "stored prev hash does not link to the previous event")
    fields = _header_fields(case_ref, seq, event.header)
    if fields["prev"] != prev.hex():
        raise _fail(case_ref, seq, "header prev does not link to the previous event")
    if event.payload is None:
        if event.salt is not None:
            raise _fail(case_ref, seq, "salt kept for an erased payload")
        if not _HEX64.fullmatch(fields["payload_commit"]):
            raise _fail(case_ref, seq, "header payload_commit is not 64 lowercase hex digits")
    elif event.salt is None or len(event.salt) != SALT_SIZE:
        # A fixed salt length keeps bytes from being shifted between salt and payload.
        raise _fail(case_ref, seq, f"payload without its {SALT_SIZE}-byte salt")
    elif _sha256(event.salt + event.payload).hexdigest() != fields["payload_commit"]:
        raise _fail(case_ref, seq, "payload does not match its commitment")
    return fields


def _header_fields(case_ref: str, seq: int, header: bytes) -> dict[str, Any]:
    """Parse a header, insisting on its exact canonical bytes and valid v1 fields.

    `prev` and `payload_commit` are left to the caller, which compares them with known values.
    """
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(case_ref, seq, "header is not UTF-8") from None
    plain = _PLAIN_HEADER.fullmatch(text)
    fields = _plain_fields(plain) if plain else _escaped_fields(case_ref, seq, text)
    problem = _value_problem(case_ref, seq, fields)
    if problem:
        raise _fail(case_ref, seq, f"header {problem}")
    return fields


def _plain_fields(match: re.Match[str]) -> dict[str, Any]:
    """Fields of a header matched by _PLAIN_HEADER, which only canonical text can match."""
    actor, at, blobs, case_id, payload_commit, prev, seq, type_ = match.groups()
    return {
        "v": HEADER_VERSION,
        "case_id": case_id,
        "seq": int(seq),
        "prev": prev,
        "type": type_,
        "actor": actor,
        "at": at,
        "payload_commit": payload_commit,
        "blobs": blobs[1:-1].split('","') if blobs else [],
    }


def _escaped_fields(case_ref: str, seq: int, text: str) -> dict[str, Any]:
    """The general path: parse, re-render and compare (and explain any difference)."""
    try:
        fields, end = _DECODER.raw_decode(text)
    except ValueError:
        raise _fail(case_ref, seq, "header is not JSON") from None
    # Re-rendering is the canonical-form check: missing, extra or duplicate keys, a float, a
    # boolean or a needless escape cannot come out the same. It also settles the types.
    try:
        rendered = _render(fields) if end == len(text) else None
    except (KeyError, TypeError):
        rendered = None
    if rendered != text:
        raise _fail(case_ref, seq, _shape_problem(fields))
    return fields


def _value_problem(case_ref: str, seq: int, fields: dict[str, Any]) -> str | None:
    if fields["v"] != HEADER_VERSION:
        return f"version {fields['v']} is not {HEADER_VERSION}"
    if fields["case_id"] != case_ref:
        return f"names case {fields['case_id']!r}"
    if fields["seq"] != seq or not 1 <= seq <= _MAX_SEQ:
        return f"says seq {fields['seq']}"
    if not (fields["case_id"] and fields["type"] and fields["actor"]):
        return "case_id, type and actor must not be empty"
    try:
        parse_utc_timestamp(fields["at"])
    except CanonicalError:
        return f"time {fields['at']!r} is not a canonical UTC timestamp"
    if not all(map(_HEX64.fullmatch, fields["blobs"])):
        return "blobs must be SHA-256 hex names"
    return None


def _render(fields: dict[str, Any]) -> str:
    """RFC 8785 text of a v1 header, at C speed.

    Keys are written in JCS order (all ASCII, so code-point order is UTF-16 order) and strings
    through json's escaper, which is the one RFC 8785 specifies and the rfc8785 package copies;
    the only numbers are integers. tests/trail/test_events.py checks this against rfc8785.
    """
    esc = _escape
    return (
        f'{{"actor":{esc(fields["actor"])},"at":{esc(fields["at"])},'
        f'"blobs":[{",".join(map(esc, fields["blobs"]))}],"case_id":{esc(fields["case_id"])},'
        f'"payload_commit":{esc(fields["payload_commit"])},"prev":{esc(fields["prev"])},'
        f'"seq":{_integer(fields["seq"])},"type":{esc(fields["type"])},'
        f'"v":{_integer(fields["v"])}}}'
    )


def _integer(value: Any) -> int:
    if not _is_int(value):
        raise TypeError("not an integer")
    return value


def _shape_problem(fields: Any) -> str:
    if not isinstance(fields, dict):
        return "header is not a JSON object"
    if fields.keys() != _HEADER_KEYS:
        return "header does not have exactly the v1 fields"
    return "header is not in canonical (JCS) form"


def _is_int(value: Any) -> bool:
    # bool is an int subclass; true is not a sequence number.
    return isinstance(value, int) and not isinstance(value, bool)


def _fail(case_ref: str, seq: int, message: str) -> TrailError:
    return TrailError(f"case {case_ref} event {seq}: {message}")
