"""Re-checking the trail in the database (no Flask): `flask --app app trail verify`.

One streaming pass over the log recomputes every stored subtree hash and the root at every
checkpoint's size; then each case chain is checked by the same `verify_chain` the offline bundle
verifier uses, each event against its leaf, every leaf against an event, and every blob's bytes.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, select

from cases.models import Case
from cases.trail import merkle
from cases.trail.blobs import BlobStore, file_digests
from cases.trail.checkpoints import verified_checkpoints
from cases.trail.events import EventRecord, TrailError, case_tag, verify_chain
from cases.trail.models import Blob, CaseEvent, EventPayload, LogHead, LogLeaf, LogNode
from cases.trail.notes import CheckpointError, KeyFormatError

BATCH = 20_000


@dataclass
class AuditReport:
    """What a verification pass checked (all of it passed, or TrailError was raised)."""

    leaves: int = 0
    nodes: int = 0
    checkpoints: int = 0
    cases: int = 0
    events: int = 0
    erased: int = 0
    blobs: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"log: {self.leaves} leaves, {self.nodes} stored subtree hashes recomputed",
            f"checkpoints: {self.checkpoints} signatures and roots checked",
            f"cases: {self.cases} chains, {self.events} events ({self.erased} payloads erased)",
            f"blobs: {self.blobs} files re-hashed",
            *self.notes,
        ]


def verify_trail(
    session: Session, *, verifier_key: str, store: BlobStore, case_ref: str | None = None
) -> AuditReport:
    """Verify everything (or one case and the log it lives in); raise TrailError at the first
    failure."""
    report = AuditReport()
    try:
        checkpoints = verified_checkpoints(session, verifier_key=verifier_key)
    except (CheckpointError, KeyFormatError) as exc:
        raise TrailError(f"checkpoint signature: {exc}") from None
    report.checkpoints = len(checkpoints)
    _verify_log(session, checkpoints, report)
    cases = select(Case.id, Case.reference)
    if case_ref is not None:
        cases = cases.where(Case.reference == case_ref)
    references = dict(session.exec(cases).all())
    if case_ref is not None and not references:
        raise TrailError(f"no case {case_ref}")
    referenced_blobs = _verify_cases(session, references, report)
    if case_ref is None:
        _verify_completeness(session)
    else:
        _verify_case_completeness(session, case_ref)
    _verify_blobs(session, store, referenced_blobs if case_ref else None, report)
    return report


def _stream(session: Session, statement) -> Iterator:
    # Core rows straight from the connection: the ORM's result layer is most of the read cost.
    return session.connection().execute(statement.execution_options(yield_per=BATCH))


def _verify_log(session: Session, checkpoints, report: AuditReport) -> None:
    head = session.exec(select(LogHead).where(LogHead.id == 1)).one()
    roots_wanted = defaultdict(list)
    for checkpoint in checkpoints:
        if checkpoint.size > head.size:
            raise TrailError(
                f"checkpoint {checkpoint.id} covers {checkpoint.size} leaves but the log has "
                f"{head.size}: the log was truncated"
            )
        roots_wanted[checkpoint.size].append(checkpoint)
    # Stored subtrees arrive in the order append_leaf creates them: by the last leaf they cover.
    last_leaf = sa.cast(LogNode.index + 1, sa.BigInteger).op("<<")(LogNode.level)
    nodes = _stream(
        session,
        select(LogNode.level, LogNode.index, LogNode.hash).order_by(last_leaf, LogNode.level),
    )
    stored_nodes = iter(nodes)
    border: list[bytes] = []
    size = 0
    for checkpoint in roots_wanted.get(0, []):
        _check_root(checkpoint, merkle.EMPTY_ROOT)
    leaf_hash, node_hash = merkle.leaf_hash, merkle.node_hash
    # merkle.append_leaf, inlined: this loop runs once per leaf of the whole log, and the border
    # holds only hashes computed here, so append_leaf's argument checks would be pure cost.
    for index, data in _stream(
        session, select(LogLeaf.index, LogLeaf.data).order_by(LogLeaf.index)
    ):
        if index != size:
            raise TrailError(f"log leaf {size} is missing (next stored leaf is {index})")
        current, level, node_index = leaf_hash(data), 0, size
        while node_index & 1:
            current = node_hash(border.pop(), current)
            level, node_index = level + 1, node_index >> 1
            stored = next(stored_nodes, None)
            if stored is None or stored[0] != level or stored[1] != node_index:
                raise TrailError(f"stored subtree ({level}, {node_index}) is missing")
            if stored[2] != current:
                raise TrailError(
                    f"stored subtree ({level}, {node_index}) does not match the leaves below it"
                )
            report.nodes += 1
        border.append(current)
        size += 1
        if size in roots_wanted:
            for checkpoint in roots_wanted[size]:
                _check_root(checkpoint, merkle.root_from_border(border))
    if next(stored_nodes, None) is not None:
        raise TrailError("the log stores subtree hashes beyond its leaves")
    if size != head.size or [h.hex() for h in border] != head.border:
        raise TrailError(
            f"the log head says {head.size} leaves but {size} are stored, or its border differs"
        )
    report.leaves = size


def _check_root(checkpoint, root: bytes) -> None:
    if root.hex() != checkpoint.root:
        raise TrailError(
            f"the log's root at size {checkpoint.size} does not match signed checkpoint "
            f"{checkpoint.id}: leaves were changed, removed or reordered"
        )


def _verify_cases(session: Session, references: dict[int, str], report: AuditReport) -> set[str]:
    # Plain columns, not ORM entities: building two objects per event cost more than verifying.
    statement = (
        select(
            CaseEvent.case_id,
            CaseEvent.seq,
            CaseEvent.header,
            CaseEvent.entry_hash,
            CaseEvent.prev_hash,
            CaseEvent.log_index,
            EventPayload.payload,
            EventPayload.salt,
            LogLeaf.data,
        )
        .join(EventPayload, EventPayload.event_id == CaseEvent.id, isouter=True)
        .join(LogLeaf, LogLeaf.index == CaseEvent.log_index, isouter=True)
        .order_by(CaseEvent.case_id, CaseEvent.seq)
    )
    if len(references) == 1:
        statement = statement.where(CaseEvent.case_id.in_(list(references)))
    blobs: set[str] = set()
    current: int | None = None
    reference, tag = "?", b""
    chain: list[EventRecord] = []

    def finish() -> None:
        if current is None:
            return
        if current not in references:
            raise TrailError(f"events exist for case id {current}, which has no case row")
        summary = verify_chain(references[current], chain)
        report.cases += 1
        report.events += summary.count
        report.erased += summary.erased
        blobs.update(summary.blobs)

    for case_id, seq, header, entry, prev, log_index, payload, salt, leaf in _stream(
        session, statement
    ):
        if case_id != current:
            finish()
            current, chain = case_id, []
            reference = references.get(case_id, "?")
            tag = case_tag(reference)  # once per case: leaf_data would hash it per event
        entry_hash = bytes.fromhex(entry)
        if leaf is None or leaf != tag + entry_hash:
            raise TrailError(f"case {reference} event {seq}: not the leaf at log index {log_index}")
        chain.append(
            EventRecord(
                seq=seq,
                header=header.encode("utf-8"),
                entry_hash=entry_hash,
                prev_hash=bytes.fromhex(prev),
                payload=None if payload is None else payload.encode("utf-8"),
                salt=None if salt is None else bytes.fromhex(salt),
                log_index=log_index,
            )
        )
    finish()
    return blobs


def _verify_completeness(session: Session) -> None:
    orphan = session.exec(
        select(LogLeaf.index)
        .join(CaseEvent, CaseEvent.log_index == LogLeaf.index, isouter=True)
        .where(CaseEvent.id.is_(None))
        .limit(1)
    ).first()
    if orphan is not None:
        raise TrailError(f"log leaf {orphan} has no event: an event was deleted")


def _verify_case_completeness(session: Session, case_ref: str) -> None:
    tag = case_tag(case_ref)
    known = set(
        session.exec(
            select(CaseEvent.log_index)
            .join(Case, Case.id == CaseEvent.case_id)
            .where(Case.reference == case_ref)
        )
    )
    for index, data in _stream(session, select(LogLeaf.index, LogLeaf.data)):
        if data[:32] == tag and index not in known:
            raise TrailError(f"log leaf {index} belongs to {case_ref} but its event is missing")


def _verify_blobs(
    session: Session, store: BlobStore, only: set[str] | None, report: AuditReport
) -> None:
    rows = {blob.sha256: blob for blob in session.exec(select(Blob))}
    wanted = only if only is not None else set(rows)
    for sha in sorted(wanted):
        blob = rows.get(sha)
        if blob is None:
            raise TrailError(f"blob {sha} is referenced by an event but not stored")
        path = store.path(sha, restricted=blob.restricted)
        if not path.exists():
            raise TrailError(f"blob {sha} is missing from the store")
        found = file_digests(path)
        if found.sha256 != sha:
            raise TrailError(f"blob {sha}: its bytes do not match its hash")
        # MD5 and SHA-1 go to NCMEC from these rows, so they are checked against the bytes too.
        if (found.md5, found.sha1, found.size) != (blob.md5, blob.sha1, blob.size):
            raise TrailError(f"blob {sha}: its recorded MD5, SHA-1 or size differs from its bytes")
        report.blobs += 1
