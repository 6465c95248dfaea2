"""Known hashes: files known to be child sexual abuse material, and matching files against them.

A hash becomes known in two ways. A specialist's judgement: `confirm_case_hashes` adds the
SHA-256 and MD5 of a child-safety case's files once they are confirmed, which Docket takes to be
when a CyberTipline report including them is finished (the report's files; with none named,
every evidence file of the case). Or an operator's list (NCMEC's, an industry hash-sharing
programme's), imported one hash per line with `import_hash_list`.

A file matches when its SHA-256 or MD5 is known, or when the same bytes are already kept as
restricted evidence, first received in a child-safety case whether confirmed yet or not (only
specialists may see those bytes, so only they can judge a report that carries them). Intake
routes a report with a matching file into the `child_safety` workflow whatever category it was
sent under; evidence whose hash is known is restricted wherever it was stored
(`cases.evidence.service`).
"""

import functools
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, and_, col, func, or_, select

from cases.core.sqltypes import utcnow
from cases.enums import EventType
from cases.models import Case, KnownHash, User
from cases.trail.models import Blob, CaseEvent

SHA256, MD5 = "sha256", "md5"
_DIGESTS = {64: SHA256, 32: MD5}  # hex length → algorithm
_HEX = re.compile(r"[0-9a-f]+")
# The source a match names when the bytes are restricted evidence rather than a known hash.
RESTRICTED_EVIDENCE = "restricted-evidence"
LIST_NAME_MAX = 100  # KnownHash.source is "list:<name>"
INSERT_BATCH = 5000
# How many bad lines a refused import names.
SHOWN_PROBLEMS = 5


class HashListInvalid(ValueError):
    """A hash list with lines that are not hashes, or a bad list name; nothing was imported."""


@dataclass(frozen=True)
class FileHashes:
    """What is known of one file's content: its SHA-256, its MD5, or both (lower-case hex)."""

    sha256: str | None = None
    md5: str | None = None

    def pairs(self) -> list[tuple[str, str]]:
        return [(name, value) for name, value in ((SHA256, self.sha256), (MD5, self.md5)) if value]


@dataclass(frozen=True)
class HashMatch:
    algorithm: str
    value: str
    source: str  # "case:<reference>", "list:<name>" or RESTRICTED_EVIDENCE

    def record(self) -> dict[str, str]:
        return {"algorithm": self.algorithm, "value": self.value, "source": self.source}


def find_matches(session: Session, *, files: Sequence[FileHashes]) -> list[list[HashMatch]]:
    """For each file, in order, what its hashes match (an empty list when nothing does)."""
    sha256s = sorted({f.sha256 for f in files if f.sha256})
    md5s = sorted({f.md5 for f in files if f.md5})
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    conditions = [
        and_(KnownHash.algorithm == algorithm, col(KnownHash.value).in_(values))
        for algorithm, values in ((SHA256, sha256s), (MD5, md5s))
        if values
    ]
    if conditions:
        rows = session.exec(
            select(KnownHash.algorithm, KnownHash.value, KnownHash.source).where(or_(*conditions))
        )
        for algorithm, value, source in rows:
            found[(algorithm, value)].append(source)
    if sha256s:
        restricted = session.exec(
            select(Blob.sha256).where(col(Blob.sha256).in_(sha256s), col(Blob.restricted))
        )
        for sha256 in restricted:
            found[(SHA256, sha256)].append(RESTRICTED_EVIDENCE)
    return [
        [
            HashMatch(algorithm, value, source)
            for algorithm, value in f.pairs()
            for source in found[(algorithm, value)]
        ]
        for f in files
    ]


def known_blobs(session: Session, *, blobs: Iterable[Blob]) -> set[str]:
    """The SHA-256s of `blobs` whose SHA-256 or MD5 is a known hash."""
    blobs = list(blobs)
    files = [FileHashes(sha256=blob.sha256, md5=blob.md5) for blob in blobs]
    return {
        blob.sha256
        for blob, matches in zip(blobs, find_matches(session, files=files), strict=True)
        if any(match.source != RESTRICTED_EVIDENCE for match in matches)
    }


def _case_evidence(session: Session, case: Case) -> list[Blob]:
    """The files `evidence_added` events of `case` name."""
    headers = session.exec(
        select(CaseEvent.header).where(
            CaseEvent.case_id == case.id, CaseEvent.type == EventType.evidence_added
        )
    )
    shas = {sha for header in headers for sha in json.loads(header)["blobs"]}
    return list(session.exec(select(Blob).where(col(Blob.sha256).in_(sorted(shas)))))


@functools.cache
def _insert_new(dialect: str) -> sa.Insert:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: a hash known already keeps its first source."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(KnownHash.__table__)
    return insert.on_conflict_do_nothing(index_elements=["algorithm", "value"]).returning(
        KnownHash.__table__.c.id
    )


def _add(
    session: Session,
    hashes: Iterable[tuple[str, str]],
    *,
    source: str,
    case_id: int | None,
    user: User | None,
    now: datetime,
) -> int:
    """Add the (algorithm, value) pairs not known yet; how many were new."""
    statement = _insert_new(session.bind.dialect.name)
    fixed = {"source": source, "case_id": case_id, "added_by_id": user and user.id, "added_at": now}
    added, batch = 0, []
    for algorithm, value in hashes:
        batch.append({"algorithm": algorithm, "value": value, **fixed})
        if len(batch) == INSERT_BATCH:
            added += len(session.execute(statement, batch).all())
            batch = []
    if batch:
        added += len(session.execute(statement, batch).all())
    return added


def confirm_case_hashes(
    session: Session,
    *,
    case: Case,
    sha256s: Iterable[str] | None = None,
    user: User | None = None,
    now: datetime | None = None,
) -> int:
    """Make the SHA-256 and MD5 of child-safety case `case`'s files (those named, else all its
    evidence) known hashes, so later reports carrying them go to child safety; how many were new.

    Call it when a CyberTipline report of the case is finished, with the files it included.
    """
    if not case.restricted:
        raise ValueError(f"{case.reference} is not a child-safety case")
    blobs = _case_evidence(session, case)
    if sha256s is not None:
        wanted = set(sha256s)
        if unknown := wanted - {blob.sha256 for blob in blobs}:
            raise ValueError(f"{sorted(unknown)[0]} is not evidence of {case.reference}")
        blobs = [blob for blob in blobs if blob.sha256 in wanted]
    pairs = sorted({pair for blob in blobs for pair in ((SHA256, blob.sha256), (MD5, blob.md5))})
    return _add(
        session,
        pairs,
        source=f"case:{case.reference}",
        case_id=case.id,
        user=user,
        now=now or utcnow(),
    )


@dataclass(frozen=True)
class ImportResult:
    hashes: int  # distinct hashes in the list
    added: int  # of which were not known before

    @property
    def already_known(self) -> int:
        return self.hashes - self.added


def _parse_hash_list(lines: Iterable[str]) -> set[tuple[str, str]]:
    """The (algorithm, value) pairs of a list, one SHA-256 or MD5 hex digest per line (blank
    lines and `#` comments skipped); HashListInvalid naming the first bad lines."""
    hashes: set[tuple[str, str]] = set()
    problems: list[int] = []
    for number, line in enumerate(lines, 1):
        value = line.strip().lower()
        if not value or value.startswith("#"):
            continue
        algorithm = _DIGESTS.get(len(value))
        if algorithm is None or not _HEX.fullmatch(value):
            problems.append(number)
            continue
        hashes.add((algorithm, value))
    if problems:
        shown = ", ".join(map(str, problems[:SHOWN_PROBLEMS]))
        more = (
            f" and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        )
        raise HashListInvalid(
            f"line {shown}{more}: not a SHA-256 (64 hex digits) or MD5 (32 hex digits); "
            "nothing was imported"
        )
    return hashes


def import_hash_list(
    session: Session,
    *,
    name: str,
    lines: Iterable[str],
    user: User | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Add a hash list's hashes as known, all or nothing, under the source `list:<name>`."""
    name = name.strip()
    if not name or len(name) > LIST_NAME_MAX or not name.isprintable():
        raise HashListInvalid(f"name the list in 1 to {LIST_NAME_MAX} printable characters")
    hashes = _parse_hash_list(lines)
    added = _add(
        session, sorted(hashes), source=f"list:{name}", case_id=None, user=user, now=now or utcnow()
    )
    return ImportResult(hashes=len(hashes), added=added)


def text_lines(stream: IO[bytes]) -> Iterable[str]:
    """An uploaded or opened list's lines as text (UTF-8, a byte-order mark allowed)."""
    try:
        yield from io.TextIOWrapper(stream, encoding="utf-8-sig", newline=None)
    except UnicodeDecodeError:
        raise HashListInvalid("the list is not UTF-8 text; nothing was imported") from None


@dataclass(frozen=True)
class SourceCount:
    """Known hashes from one imported list, or from every confirming case together."""

    list_name: str | None  # None: the hashes confirmed in child-safety cases
    sources: int  # 1 for a list; for cases, how many cases
    sha256: int
    md5: int
    last_added: datetime


def source_counts(session: Session) -> list[SourceCount]:
    """How many known hashes each imported list added (newest first), then the cases."""
    rows = session.exec(
        select(
            KnownHash.source, KnownHash.algorithm, func.count(), func.max(KnownHash.added_at)
        ).group_by(KnownHash.source, KnownHash.algorithm)
    )
    totals: dict[str | None, dict[str, Any]] = {}
    for source, algorithm, count, last in rows:
        name = source.removeprefix("list:") if source.startswith("list:") else None
        entry = totals.setdefault(name, {SHA256: 0, MD5: 0, "last": last, "sources": set()})
        entry[algorithm] += count
        entry["last"] = max(entry["last"], last)
        entry["sources"].add(source)
    counts = [
        SourceCount(
            list_name=name,
            sources=len(entry["sources"]),
            sha256=entry[SHA256],
            md5=entry[MD5],
            last_added=entry["last"],
        )
        for name, entry in totals.items()
    ]
    return sorted(counts, key=lambda c: (c.list_name is None, -c.last_added.timestamp()))
