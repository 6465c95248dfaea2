"""Erasing personal data from a case's trail without breaking its chain (no Flask), and what a
hold keeps from erasure and deletion.

Payload and salt go; the salted commitment stays in each header, so the chain still verifies, and
an `erased` event records that it happened, when, why and by whom, and which evidence files' bytes
went with it (`erased_files`: a verifier told of them does not take them for lost). An erasure's
own record stays through later erasures. Held cases cannot be erased. The working tables and the
files are `cases.retention.service.erase_case`'s, which calls `erase_payload`.

What a hold covers (`covering_holds`, `is_held`: erasure asks them, and so must any retention
sweep): the case it was placed on, and every evidence file that case's events reference, whichever
other cases reference the file too. A preservation hold (18 U.S.C. 2258A(h): the report and the
data "that may provide context or additional information about the reported material or
person") and a law-enforcement request (2703(f): the records of an account) also cover every
other case about the same subject, and so those cases' files. A legal hold stays on its case: a
lead who wants more holds each case. Erasing a case that is not held still keeps the payloads of
its events that name a held file: they are that file's custody record (who added or viewed it,
and why).
"""

import json
import re
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlmodel import Session, col, delete, or_, select

from cases.core.sqltypes import utcnow
from cases.enums import EventType, HoldKind
from cases.models import Case, Hold, Subject
from cases.trail.models import CaseEvent, EventPayload
from cases.trail.store import CaseLike, append_event

SUBJECT_WIDE = (HoldKind.preservation, HoldKind.law_enforcement)
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ErasureRefused(Exception):
    """Active holds cover the case; `holds` lists them, latest-ending first."""

    def __init__(self, message: str, *, holds: list[Hold]):
        super().__init__(message)
        self.holds = holds


def active_holds(session: Session, *, case_id: int, now: datetime | None = None) -> list[Hold]:
    """Holds placed on the case itself that have not yet expired."""
    now = now or utcnow()
    return list(session.exec(select(Hold).where(Hold.case_id == case_id, Hold.until > now)))


def lock_holds(session: Session, *, case_id: int) -> None:
    """Queue hold changes and erasures about the case's subject behind one another."""
    # A hold on one case can cover the subject's others, so the subject's row is the lock: an
    # erasure cannot miss a hold committed while it ran (PostgreSQL; SQLite's BEGIN IMMEDIATE
    # already serialises writers).
    subject = select(Case.subject_id).where(Case.id == case_id).scalar_subquery()
    session.exec(select(Subject.id).where(Subject.id == subject).with_for_update()).one()


def covering_holds(
    session: Session,
    *,
    case_id: int | None = None,
    blob_sha256: str | None = None,
    now: datetime | None = None,
) -> list[Hold]:
    """The active holds that cover the case, or the evidence file, latest-ending first."""
    if (case_id is None) == (blob_sha256 is None):
        raise ValueError("name either a case or an evidence file")
    now = now or utcnow()
    if case_id is not None:
        subject = select(Case.subject_id).where(Case.id == case_id).scalar_subquery()
        return list(
            session.exec(
                select(Hold)
                .join(Case, col(Case.id) == Hold.case_id)
                .where(
                    Hold.until > now,
                    or_(
                        Hold.case_id == case_id,
                        col(Hold.kind).in_(SUBJECT_WIDE) & (Case.subject_id == subject),
                    ),
                )
                .order_by(col(Hold.until).desc(), col(Hold.id))
            )
        )
    if not _SHA256.fullmatch(blob_sha256):
        raise ValueError(f"not a SHA-256 hex digest: {blob_sha256!r}")
    held = session.exec(
        select(Hold, Case.subject_id)
        .join(Case, col(Case.id) == Hold.case_id)
        .where(Hold.until > now)
        .order_by(col(Hold.until).desc(), col(Hold.id))
    ).all()
    if not held:
        return []
    direct = {hold.case_id for hold, _ in held}
    subjects = {subject for hold, subject in held if hold.kind in SUBJECT_WIDE}
    held_cases = select(Case.id).where(
        or_(col(Case.id).in_(sorted(direct)), col(Case.subject_id).in_(sorted(subjects)))
    )
    # Only the held cases' events are read: the text match narrows them, the header decides.
    candidates = session.exec(
        select(CaseEvent.case_id, Case.subject_id, CaseEvent.header)
        .join(Case, col(Case.id) == CaseEvent.case_id)
        .where(
            col(CaseEvent.case_id).in_(held_cases),
            col(CaseEvent.header).contains(f'"{blob_sha256}"', autoescape=True),
        )
    ).all()
    referencing = {
        (case, subject)
        for case, subject, header in candidates
        if blob_sha256 in json.loads(header)["blobs"]
    }
    return [
        hold
        for hold, subject in held
        if any(
            hold.case_id == case or (hold.kind in SUBJECT_WIDE and subject == other)
            for case, other in referencing
        )
    ]


def covered_files(session: Session, *, hold: Hold) -> set[str]:
    """The SHA-256s of the evidence files `hold` covers: those its case's events name, and for a
    subject-wide hold those of every case about the same subject."""
    cases = select(Case.id).where(Case.id == hold.case_id)
    if hold.kind in SUBJECT_WIDE:
        subject = select(Case.subject_id).where(Case.id == hold.case_id).scalar_subquery()
        cases = select(Case.id).where(Case.subject_id == subject)
    headers = session.exec(select(CaseEvent.header).where(col(CaseEvent.case_id).in_(cases)))
    return {sha for header in headers for sha in json.loads(header)["blobs"]}


def is_held(
    session: Session,
    *,
    case_id: int | None = None,
    blob_sha256: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Whether an active hold covers the case, or the evidence file (see the module's notes)."""
    return bool(covering_holds(session, case_id=case_id, blob_sha256=blob_sha256, now=now))


def describe_holds(session: Session, *, case: CaseLike, holds: list[Hold]) -> str:
    """The holds covering `case`, in words ("a legal hold until 2027-01-31 (hold 4)")."""
    named = []
    for hold in holds:
        where = ""
        if hold.case_id != case.id:
            other = session.get(Case, hold.case_id)
            where = f", placed on {other.reference}, a case about the same subject"
        named.append(f"a {hold.kind} hold until {hold.until:%Y-%m-%d} (hold {hold.id}{where})")
    return "; and ".join(named)


def check_erasable(session: Session, *, case: CaseLike, now: datetime | None = None) -> None:
    """Lock the case's holds and raise ErasureRefused, naming every hold, if any covers it."""
    lock_holds(session, case_id=case.id)
    holds = covering_holds(session, case_id=case.id, now=now)
    if holds:
        raise ErasureRefused(
            f"case {case.reference} is under {describe_holds(session, case=case, holds=holds)}; "
            "its evidence cannot be erased",
            holds=holds,
        )


def held_files(session: Session, *, case_id: int, now: datetime | None = None) -> set[str]:
    """The files the case's events name that a hold covers (through another case)."""
    headers = session.exec(select(CaseEvent.header).where(CaseEvent.case_id == case_id))
    named = {sha256 for header in headers for sha256 in json.loads(header)["blobs"]}
    return {sha256 for sha256 in named if is_held(session, blob_sha256=sha256, now=now)}


def erased_files(session: Session, *, shas: Collection[str]) -> dict[str, str]:
    """Of `shas`, the files whose bytes an erasure deleted, each with when and why (for the
    verifier and exports: a missing file they name was erased, not lost)."""
    found: dict[str, str] = {}
    for sha256 in sorted(set(shas)):
        rows = session.exec(
            select(CaseEvent.at, EventPayload.payload)
            .join(EventPayload, col(EventPayload.event_id) == CaseEvent.id)
            .where(
                CaseEvent.type == EventType.erased,
                col(EventPayload.payload).contains(f'"{sha256}"', autoescape=True),
            )
            .order_by(col(CaseEvent.at))
        )
        for at, payload in rows:
            recorded = json.loads(payload)
            if sha256 in recorded.get("files", ()):
                found[sha256] = f"erased {at:%Y-%m-%d}: {recorded['reason']}"
                break
    return found


def erase_payload(
    session: Session,
    *,
    case: CaseLike,
    actor: str,
    reason: str,
    now: datetime | None = None,
    details: Mapping[str, object] | None = None,
) -> CaseEvent:
    """Delete the payloads of `case`'s events so far (not those naming a held file, nor earlier
    erasures' records); record it, with `details` of what else was erased."""
    now = now or utcnow()
    check_erasable(session, case=case, now=now)
    events = session.exec(
        select(CaseEvent.id, CaseEvent.seq, CaseEvent.type, CaseEvent.header)
        .where(CaseEvent.case_id == case.id)
        .order_by(col(CaseEvent.seq))
    ).all()
    held = held_files(session, case_id=case.id, now=now)
    kept = [seq for _, seq, _, header in events if held.intersection(json.loads(header)["blobs"])]
    # An erasure's own record (its reason, what it erased, no one's data) is what shows it was
    # an erasure and not a loss; a later erasure keeps it.
    erased = [id for id, seq, type, _ in events if seq not in kept and type != EventType.erased]
    session.exec(delete(EventPayload).where(col(EventPayload.event_id).in_(erased)))
    payload = {"reason": reason, "through_seq": events[-1].seq if events else 0}
    if kept:
        payload["kept"] = kept
    payload.update(details or {})
    return append_event(session, case=case, type=EventType.erased, actor=actor, payload=payload)
