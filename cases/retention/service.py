"""Erasing a case's personal data, at the end of its retention (the sweep) or on request (`trail
erase`, GDPR Art. 17): one function, `erase_case`, does it for both.

Retention: a case's personal data is kept for its policy clause's `retention_days`
(workflows/definitions/policy.toml) after the case was last resolved, and never until the appeal
window of its last decision has closed and any appeal is decided. A clause the taxonomy no longer
knows takes the longest retention of its group; a case with no known group, the longest of all.
The taxonomy refuses a retention shorter than the appeal window plus its review. A hold wins: a
held case is skipped and listed by the sweep, and refused by `trail erase`.

What `erase_case` erases, column by column. A marker reads "[erased 2026-12-02: <reason>]" (cut
to fit its column); JSON columns get {"erased": marker}. Columns not named hold no one's
personal data (ids, states, times, hashes, integrations' names, staff accounts) and stay.

  event_payload                the trail's payloads: deleted by `erase_payload` (each header
                               keeps its salted commitment, so the chain verifies); kept for
                               events naming a held file (its custody record) and for earlier
                               erasures' own records
  report.raw_payload, explanation, location, reporter_name, content_ref          marker
  report.reporter_email        NULL: "no contact known" (a marker would be taken for an address)
  report.reporter_key          an email key becomes "erased:N", one N per distinct reporter of
                               the case, so the count of distinct reporters stays right
  subject.display, external_id marker (the external id's ends " #<subject id>": it is unique);
  subject.contact_email, contact_locale      NULL. All four only when no other case about the
                               subject is unerased: its live cases still need them (their own
                               erasure takes them)
  decision.facts, ground, redress            marker (legal_ground names a law: kept)
  appeal.grounds, reasons      marker (attachments lists SHA-256s: the files go as evidence does)
  message.recipient, subject, reason         marker; an undelivered message ends `not_sent`
  evidence_view.reason         marker: a reviewer's words may describe the person (who opened
                               which file when stays, for custody), unless the file is held
  hold.reason                  marker (an erasable case has expired holds only)
  pending_approval.fields      {"erased": marker}: a requested transition's fields
  ncmec_report.description, additional_info, report_xml, last_error, and each file's filename
                               and details_xml   marker (NCMEC's receipt and answers stay: the
                               proof the report was made)
  outbox.last_error            marker (a delivery failure may quote an address; args are ids)
  idempotent_response.body     the grounds of an appeal filed through the API: marker
  provider_inquiry.summary, dsa_statement.last_error                             marker
  evidence files               their bytes, in either area of the blob store, deleted after
                               commit (`cases.retention.files`) unless held or named by a case
                               not erased; the `blob` row (hashes) stays, and the `erased` event
                               lists the files, so a verifier knows them erased, not lost
  instance/mail/*.eml          the embedded outbox's copies of the case's messages, deleted after
                               commit: the operator's only copy of what was "sent", with names,
                               addresses and text
  search index, freed pages    `cases.retention.traces`

Kept on purpose: staff accounts and their events, `access_request` (the record that a request was
answered), `known_hash` (hashes of abuse material, not of a person), trail headers, leaves and
checkpoints, `blob` rows, and the `erased` event's payload (its reason: name a ticket, not a
person).
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, not_, or_, select

from cases.core.errors import InputInvalid
from cases.core.sqltypes import utcnow
from cases.enums import AppealChannel, MessageStatus, Stage
from cases.jobs.outbox import enqueue_job
from cases.lifecycle.actors import Actor
from cases.lifecycle.deployed import definitions
from cases.lifecycle.transitions import appeal_window_closes_at
from cases.models import (
    Appeal,
    Case,
    Decision,
    DsaStatement,
    EvidenceView,
    Hold,
    IdempotentResponse,
    Message,
    NcmecReport,
    Outbox,
    PendingApproval,
    ProviderInquiry,
    Report,
    Subject,
)
from cases.retention.files import ERASE_FILES_JOB, erasable_files
from cases.trail.erasure import (
    ErasureRefused,
    check_erasable,
    covering_holds,
    describe_holds,
    erase_payload,
    held_files,
)
from cases.trail.models import CaseEvent, EventPayload
from workflows import Policy

log = logging.getLogger(__name__)

REASON_MAX = 200
SWEEP_BATCH = 50  # cases per transaction of a sweep
SWEEP_ACTOR = Actor.system("retention_sweep").label
# The tables an erasure rewrites: their old row versions are what VACUUM removes (PostgreSQL).
TOUCHED_TABLES = tuple(
    model.__tablename__
    for model in (
        Report,
        Subject,
        Decision,
        Appeal,
        Message,
        EvidenceView,
        Hold,
        PendingApproval,
        NcmecReport,
        Outbox,
        IdempotentResponse,
        ProviderInquiry,
        DsaStatement,
        Case,
    )
) + (EventPayload.__tablename__,)


@dataclass(frozen=True)
class Marker:
    """What an erased value is replaced with: when, and why."""

    at: datetime
    reason: str

    @property
    def text(self) -> str:
        return f"[erased {self.at:%Y-%m-%d}: {self.reason}]"

    def fit(self, column: sa.Column, *, suffix: str = "") -> str:
        """The marker (and `suffix`), cut to the column's length."""
        limit = getattr(column.type, "length", None)
        text = self.text
        if limit is not None and len(text) + len(suffix) > limit:
            head = f"[erased {self.at:%Y-%m-%d}: "
            text = f"{head}{self.reason[: max(limit - len(suffix) - len(head) - 2, 0)]}…]"
        return text + suffix

    @property
    def json(self) -> dict:
        return {"erased": self.text}


def _column(model: type[SQLModel], name: str) -> sa.Column:
    return model.__table__.c[name]


def check_reason(reason: str) -> str:
    """The reason an erasure gives (it stays on the trail): one line, 1 to REASON_MAX chars."""
    reason = (reason or "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise InputInvalid(f"give a reason of 1 to {REASON_MAX} characters", field="reason")
    if not reason.isprintable():  # control characters, line breaks, undecodable bytes
        raise InputInvalid("the reason must be one line of printable text", field="reason")
    return reason


def _mark(rows: list[Any], names: tuple[str, ...], marker: Marker) -> int:
    """Replace each set value of the named columns with the marker; how many rows changed."""
    changed = 0
    for row in rows:
        touched = False
        for name in names:
            if getattr(row, name) is not None:
                setattr(row, name, marker.fit(_column(type(row), name)))
                touched = True
        changed += touched
    return changed


def _of_case(session: Session, model: type[SQLModel], case_id: int) -> list[Any]:
    return list(session.exec(select(model).where(model.case_id == case_id)))


def _erase_reports(session: Session, case: Case, marker: Marker) -> int:
    reports = list(
        session.exec(select(Report).where(Report.case_id == case.id).order_by(col(Report.id)))
    )
    _mark(
        reports, ("raw_payload", "explanation", "location", "reporter_name", "content_ref"), marker
    )
    reporters: dict[str, str] = {}
    for report in reports:
        report.reporter_email = None
        if report.reporter_key.startswith("email:"):
            report.reporter_key = reporters.setdefault(
                report.reporter_key, f"erased:{len(reporters) + 1}"
            )
    return len(reports)


def _erase_subject(session: Session, case: Case, marker: Marker) -> bool:
    """Erase the subject's details unless another unerased case is about it; whether it did."""
    others = select(Case.id).where(
        Case.subject_id == case.subject_id, Case.id != case.id, col(Case.erased_at).is_(None)
    )
    if session.exec(others.limit(1)).first() is not None:
        return False
    subject = session.get(Subject, case.subject_id)
    if subject.display is not None:
        subject.display = marker.fit(_column(Subject, "display"))
    subject.contact_email = subject.contact_locale = None
    subject.external_id = marker.fit(_column(Subject, "external_id"), suffix=f" #{subject.id}")
    session.add(subject)
    return True


def _erase_messages(session: Session, case: Case, marker: Marker) -> int:
    messages = _of_case(session, Message, case.id)
    _mark(messages, ("recipient", "subject", "reason"), marker)
    for message in messages:
        if message.status in (MessageStatus.pending, MessageStatus.failed):
            # Nothing can go to an erased address: a retry would send to the marker.
            message.status = MessageStatus.not_sent
    return len(messages)


def _erase_ncmec(session: Session, case: Case, marker: Marker) -> int:
    reports = _of_case(session, NcmecReport, case.id)
    _mark(reports, ("description", "additional_info", "report_xml", "last_error"), marker)
    for report in reports:
        # A new list: the JSON column notices reassignment, not changes inside it.
        report.files = [
            {
                **entry,
                "filename": marker.text,
                "details_xml": marker.text if entry.get("details_xml") else None,
            }
            for entry in report.files
        ]
    return len(reports)


def _erase_api_appeals(session: Session, case: Case, marker: Marker) -> int:
    """Blank the grounds in the stored answers to appeals filed through the API."""
    relayed = select(Appeal.id).where(
        Appeal.case_id == case.id, Appeal.channel == AppealChannel.api
    )
    if session.exec(relayed.limit(1)).first() is None:
        return 0
    # The answer names its case; the text match narrows the rows, the JSON decides.
    stored = session.exec(
        select(IdempotentResponse).where(
            sa.cast(IdempotentResponse.body, sa.Text).contains(case.reference, autoescape=True)
        )
    ).all()
    changed = 0
    for row in stored:
        appeal = row.body.get("appeal") if isinstance(row.body, dict) else None
        if isinstance(appeal, dict) and appeal.get("case") == case.reference:
            row.body = {**row.body, "appeal": {**appeal, "grounds": marker.text}}
            changed += 1
    return changed


def _erase_working_tables(
    session: Session, case: Case, marker: Marker, *, held: set[str]
) -> dict[str, int]:
    """Replace the case's personal values in the working tables; rows changed per table."""
    rows = {
        "report": _erase_reports(session, case, marker),
        "subject": int(_erase_subject(session, case, marker)),
        "decision": _mark(
            _of_case(session, Decision, case.id), ("facts", "ground", "redress"), marker
        ),
        "appeal": _mark(_of_case(session, Appeal, case.id), ("grounds", "reasons"), marker),
        "message": _erase_messages(session, case, marker),
        "evidence_view": _mark(
            [v for v in _of_case(session, EvidenceView, case.id) if v.blob_sha256 not in held],
            ("reason",),
            marker,
        ),
        "hold": _mark(_of_case(session, Hold, case.id), ("reason",), marker),
        "ncmec_report": _erase_ncmec(session, case, marker),
        "outbox": _mark(_of_case(session, Outbox, case.id), ("last_error",), marker),
        "idempotent_response": _erase_api_appeals(session, case, marker),
        "provider_inquiry": _mark(
            _of_case(session, ProviderInquiry, case.id), ("summary",), marker
        ),
    }
    approvals = _of_case(session, PendingApproval, case.id)
    for approval in approvals:
        approval.fields = marker.json
    rows["pending_approval"] = len(approvals)
    statements = session.exec(
        select(DsaStatement)
        .join(Decision, col(Decision.id) == DsaStatement.decision_id)
        .where(Decision.case_id == case.id)
    ).all()
    rows["dsa_statement"] = _mark(list(statements), ("last_error",), marker)
    return {table: count for table, count in rows.items() if count}


def erase_case(
    session: Session, *, case: Case, reason: str, actor: str, now: datetime | None = None
) -> CaseEvent:
    """Erase the case's personal data everywhere (see the module's table); its `erased` event.

    Raises ErasureRefused, naming every hold, when one covers the case; InputInvalid for a bad
    reason. Evidence files and mail copies go after commit (a job), the freed space after that
    (`cases.retention.traces`)."""
    now = now or utcnow()
    reason = check_reason(reason)
    check_erasable(session, case=case, now=now)
    held = held_files(session, case_id=case.id, now=now)
    marker = Marker(at=now, reason=reason)
    files = erasable_files(session, case=case, held=held)
    rows = _erase_working_tables(session, case, marker, held=held)
    case.erased_at = now
    session.add(case)
    session.flush()  # the report triggers purge the old words from SQLite's index now
    event = erase_payload(
        session,
        case=case,
        actor=actor,
        reason=reason,
        now=now,
        details={"files": files, "rows": rows},
    )
    enqueue_job(session, job=ERASE_FILES_JOB, args={"case_id": case.id}, case_id=case.id)
    return event


# --- retention -----------------------------------------------------------------------------------


def retention_days(policy: Policy, clause_id: str | None) -> int:
    """Days a case under `clause_id` keeps its personal data after it is resolved."""
    for clause in policy.clauses:
        if clause.id == clause_id:
            return clause.retention_days
    group = (clause_id or "").partition(".")[0]
    longest = _longest_by_group(policy)
    return longest.get(group, max(longest.values()))


def _longest_by_group(policy: Policy) -> dict[str, int]:
    return {
        group.id: max([group.retention_days, *(c.retention_days for c in group.clauses)])
        for group in policy.groups
    }


def _past_retention(policy: Policy, now: datetime) -> sa.ColumnElement[bool]:
    """Resolved long enough ago for the case's clause (one condition per retention period)."""
    clause = col(Case.policy_clause)
    known = {c.id: c.retention_days for c in policy.clauses}
    unknown = clause.is_not(None) & clause.not_in(sorted(known))
    longest = _longest_by_group(policy)
    in_group = {g: clause.startswith(f"{g}.", autoescape=True) for g in longest}
    by_days: dict[int, list[sa.ColumnElement[bool]]] = defaultdict(list)
    for days in set(known.values()):
        by_days[days].append(clause.in_(sorted(c for c, d in known.items() if d == days)))
    for group, days in longest.items():
        by_days[days].append(unknown & in_group[group])
    by_days[max(longest.values())].append(
        clause.is_(None) | (unknown & not_(or_(*in_group.values())))
    )
    return or_(
        *(
            (col(Case.resolved_at) <= now - timedelta(days=days)) & or_(*conditions)
            for days, conditions in sorted(by_days.items())
        )
    )


def _appeals_settled(session: Session, case: Case, now: datetime) -> bool:
    """Whether the last decision's appeal window has closed and no appeal awaits its outcome."""
    closes_at = appeal_window_closes_at(session, case=case)
    if closes_at is not None and closes_at > now:
        return False
    open_appeal = select(Appeal.id).where(Appeal.case_id == case.id, col(Appeal.outcome).is_(None))
    return session.exec(open_appeal.limit(1)).first() is None


def _past_retention_cases(
    session: Session, *, now: datetime, after_id: int | None, limit: int | None
) -> list[Case]:
    """Resolved cases past their clause's retention, not erased since they were, by id."""
    query = (
        select(Case)
        .where(
            Case.stage == Stage.resolved,
            # Erased before it was (last) resolved: what it gathered since is due in turn.
            or_(col(Case.erased_at).is_(None), col(Case.erased_at) < col(Case.resolved_at)),
            _past_retention(definitions().policy, now),
        )
        .order_by(col(Case.id))
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(Case.id > after_id)
    return list(session.exec(query))


def due_for_erasure(
    session: Session, *, now: datetime, after_id: int | None = None, limit: int | None = None
) -> list[Case]:
    """Resolved cases past their retention and their appeals, not erased since, by id (of the
    first `limit` past their retention)."""
    candidates = _past_retention_cases(session, now=now, after_id=after_id, limit=limit)
    return [case for case in candidates if _appeals_settled(session, case, now)]


@dataclass
class SweepResult:
    """What one sweep (or one batch of it) did: erased, skipped for a hold, failed."""

    erased: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (reference, the holds)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (reference, the error)
    last_id: int | None = None  # the next batch starts after this case
    more: bool = False


def sweep(
    session: Session,
    *,
    now: datetime | None = None,
    after_id: int | None = None,
    limit: int | None = None,
    dry_run: bool = False,
) -> SweepResult:
    """Erase each case due (after `after_id`, at most `limit`), each in a savepoint of its own;
    list held cases as skipped. With `dry_run`, only say what would be done."""
    now = now or utcnow()
    policy = definitions().policy
    candidates = _past_retention_cases(session, now=now, after_id=after_id, limit=limit)
    result = SweepResult(
        last_id=candidates[-1].id if candidates else after_id,
        more=limit is not None and len(candidates) == limit,
    )
    due = [case for case in candidates if _appeals_settled(session, case, now)]
    for case in due:
        reference = case.reference
        reason = f"retention of {retention_days(policy, case.policy_clause)} days ended"
        try:
            if dry_run:
                if holds := covering_holds(session, case_id=case.id, now=now):
                    result.skipped.append(
                        (reference, describe_holds(session, case=case, holds=holds))
                    )
                else:
                    result.erased.append(reference)
                continue
            with session.begin_nested():
                erase_case(session, case=case, reason=reason, actor=SWEEP_ACTOR, now=now)
            result.erased.append(reference)
        except ErasureRefused as exc:
            result.skipped.append((reference, describe_holds(session, case=case, holds=exc.holds)))
        except Exception as exc:
            # One case's failure rolls back that case alone; the sweep goes on and lists it.
            log.exception("retention sweep: erasing %s failed", reference)
            result.failed.append((reference, f"{type(exc).__name__}: {exc}"))
    return result
