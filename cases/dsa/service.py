"""Statements of reasons for a period: the export file, and their submission to the Transparency
Database (DSA Art. 24(5)).

A period is [start, end): decisions decided from `start` up to, not including, `end`. Every
restriction decision in it has a statement (`cases.dsa.statements`); `no_action` decisions impose
nothing and have none. A case whose personal data was erased still has its statements: they never
held personal data, and facts that were erased are replaced by a neutral sentence.

Submission: `queue_submission` gives each decision a `DsaStatement` row (its puid, for ever) and
queues the pending ones in batches of at most 100; `submit_batch` (the job's body) posts a batch
and records what became of each statement. Created (201): submitted, with a
`dsa_statement_submitted` event on its case, in the same transaction. A 422 that mentions an
existing puid: the database already has those statements (a run that died before its commit, or
a repeat), so they count as submitted once a puid check confirms it, and the rest is sent again.
Any other refusal marks the batch failed with the answer (`dsa submit` queues it again once
fixed). Throttling (429), server errors and no answer are retried with the job runner's backoff.
"""

import json
import os
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from sqlmodel import Session, col, select

from cases.core.sqltypes import utcnow
from cases.dsa.client import (
    MAX_BATCH,
    Answer,
    TransparencyClient,
    TransparencyConfigError,
    TransparencyUnavailable,
    check_config,
)
from cases.dsa.statements import (
    RESTRICTIONS,
    DecisionFacts,
    build_statement,
    statement_problems,
)
from cases.enums import DsaSubmissionStatus, EventType
from cases.jobs.outbox import enqueue_job
from cases.jobs.registry import AttemptFailed
from cases.lifecycle.deployed import definitions
from cases.models import Case, Decision, DsaStatement, Report, Subject, User
from cases.trail.models import Blob, CaseEvent
from cases.trail.store import NewEvent, append_events

CHUNK = 500  # decisions loaded at a time: an export of a busy year stays in bounded memory
MAX_ERROR_CHARS = 4000
# Answers worth waiting out: throttling, a timeout, a token being fixed, the server's trouble.
RETRY_STATUSES = frozenset({401, 403, 408, 425, 429})
_BATCH_INDEX = re.compile(r"statements?[._\[](\d+)")
SUBMIT_JOB = "submit_dsa_statements"


class StatementsInvalid(Exception):
    """Statements of the period break the database's rules; nothing was written or queued."""

    def __init__(self, problems: Sequence[str]):
        super().__init__(f"{len(problems)} problem(s): " + "; ".join(problems[:5]))
        self.problems = list(problems)


class SubmissionDeferred(AttemptFailed):
    """The batch was not taken for now (throttled, a server error, no answer): what was recorded
    stays, and the job runner retries it with backoff."""


@dataclass(frozen=True)
class QueuedSubmission:
    statements: int
    batches: int
    already_submitted: int


def personal_terms(
    *, subject: Subject | None, reports: Sequence[Report], staff: Sequence[tuple[str, str]]
) -> list[str]:
    """The values that identify someone and must not reach the database: the subject's ids,
    name and email, each reporter's name and email, and every staff member's name and email."""
    terms = [t for name, email in staff for t in (name, email)]
    terms += [t for r in reports for t in (r.reporter_name, r.reporter_email)]
    if subject is not None:
        terms += [subject.external_id, subject.display, subject.contact_email]
    return [t for t in terms if t]


def _media_types(session: Session, case_ids: Sequence[int]) -> dict[int, list[str]]:
    """The media types of each case's evidence files (from event headers, which erasure keeps)."""
    blobs_of: dict[int, set[str]] = defaultdict(set)
    for case_id, header in session.exec(
        select(CaseEvent.case_id, CaseEvent.header).where(
            col(CaseEvent.case_id).in_(case_ids), CaseEvent.type == EventType.evidence_added
        )
    ):
        blobs_of[case_id].update(json.loads(header).get("blobs", ()))
    wanted = {sha for shas in blobs_of.values() for sha in shas}
    media = dict(
        session.exec(
            select(Blob.sha256, Blob.media_type).where(col(Blob.sha256).in_(sorted(wanted)))
        ).all()
    )
    return {
        case_id: sorted(media[s] for s in shas if s in media) for case_id, shas in blobs_of.items()
    }


def decision_facts(session: Session, *, decisions: Sequence[Decision]) -> dict[int, DecisionFacts]:
    """What each decision's statement is built from, by decision id (a few queries in all)."""
    case_ids = sorted({d.case_id for d in decisions})
    cases = {c.id: c for c in session.exec(select(Case).where(col(Case.id).in_(case_ids)))}
    subject_ids = {c.subject_id for c in cases.values()}
    subjects = {
        s.id: s for s in session.exec(select(Subject).where(col(Subject.id).in_(subject_ids)))
    }
    reports: dict[int, list[Report]] = defaultdict(list)
    for report in session.exec(
        select(Report).where(col(Report.case_id).in_(case_ids)).order_by(col(Report.id))
    ):
        reports[report.case_id].append(report)
    media = _media_types(session, case_ids)
    staff = session.exec(select(User.name, User.email)).all()
    facts = {}
    for decision in decisions:
        case = cases[decision.case_id]
        facts[decision.id] = DecisionFacts(
            decision=decision,
            case=case,
            reports=reports[case.id],
            media_types=media.get(case.id, []),
            personal=personal_terms(
                subject=subjects.get(case.subject_id), reports=reports[case.id], staff=staff
            ),
        )
    return facts


def _period_chunks(
    session: Session, *, start: datetime, end: datetime
) -> Iterator[list[tuple[Decision, dict[str, Any], DsaStatement | None]]]:
    """The restriction decisions decided in [start, end), oldest id first, CHUNK at a time, each
    with its statement (under the puid it was submitted with, if it was) and its row, if any."""
    policy = definitions().policy
    after = 0
    while True:
        decisions = session.exec(
            select(Decision)
            .where(
                Decision.decided_at >= start,
                Decision.decided_at < end,
                col(Decision.restriction).in_([r.value for r in RESTRICTIONS]),
                col(Decision.id) > after,
            )
            .order_by(col(Decision.id))
            .limit(CHUNK)
        ).all()
        if not decisions:
            return
        rows = {
            row.decision_id: row
            for row in session.exec(
                select(DsaStatement).where(
                    col(DsaStatement.decision_id).in_([d.id for d in decisions])
                )
            )
        }
        facts = decision_facts(session, decisions=decisions)
        yield [
            (
                decision,
                build_statement(
                    facts[decision.id],
                    policy=policy,
                    puid=rows[decision.id].puid if decision.id in rows else None,
                ),
                rows.get(decision.id),
            )
            for decision in decisions
        ]
        after = decisions[-1].id


def iter_statements(
    session: Session, *, start: datetime, end: datetime
) -> Iterator[tuple[Decision, dict[str, Any]]]:
    """Each restriction decision decided in [start, end) with its statement, oldest first."""
    for chunk in _period_chunks(session, start=start, end=end):
        for decision, statement, _ in chunk:
            yield decision, statement


def statements_for_period(session: Session, *, start: datetime, end: datetime) -> list[dict]:
    """The statements of every restriction decision decided in [start, end)."""
    return [statement for _, statement in iter_statements(session, start=start, end=end)]


def _problems(statement: Mapping[str, Any]) -> list[str]:
    return [f"{statement.get('puid')}: {p}" for p in statement_problems(statement)]


def export_statements(session: Session, *, start: datetime, end: datetime, out: Path) -> int:
    """Write the period's statements to `out` as {"statements": [...]}; how many. All of them
    pass `statement_problems` or none is written (StatementsInvalid)."""
    partial = out.with_name(f".{out.name}.partial")
    problems: list[str] = []
    count = 0
    try:
        with partial.open("w", encoding="utf-8") as handle:
            handle.write('{"statements": [')
            for _, statement in iter_statements(session, start=start, end=end):
                problems += _problems(statement)
                handle.write(",\n" if count else "\n")
                handle.write(json.dumps(statement, ensure_ascii=False))
                count += 1
            handle.write("\n]}\n")
        if problems:
            raise StatementsInvalid(problems)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return count


def queue_submission(
    session: Session, *, start: datetime, end: datetime, config: Mapping[str, Any]
) -> QueuedSubmission:
    """Give the period's statements their rows and queue the unsubmitted ones (failed ones
    again) in batches of at most 100."""
    check_config(config)
    problems: list[str] = []
    queued: list[DsaStatement] = []
    done = 0
    for chunk in _period_chunks(session, start=start, end=end):
        for decision, statement, row in chunk:
            problems += _problems(statement)
            if row is not None and row.status == DsaSubmissionStatus.submitted:
                done += 1
                continue
            row = row or DsaStatement(decision_id=decision.id, puid=statement["puid"])
            row.status, row.last_error = DsaSubmissionStatus.pending, None
            session.add(row)
            queued.append(row)
    if problems:
        raise StatementsInvalid(problems)
    session.flush()
    ids = [row.id for row in queued]
    batches = [ids[i : i + MAX_BATCH] for i in range(0, len(ids), MAX_BATCH)]
    for batch in batches:
        enqueue_job(session, job=SUBMIT_JOB, args={"statement_ids": batch})
    return QueuedSubmission(statements=len(ids), batches=len(batches), already_submitted=done)


def _record_submitted(
    session: Session,
    *,
    sent: Sequence[tuple[DsaStatement, dict]],
    facts: Mapping[int, DecisionFacts],
    answer: Answer,
    batch_size: int,
    outcome: str,
    actor: str,
) -> None:
    now = utcnow()
    for row, _ in sent:
        row.status, row.submitted_at, row.last_error = DsaSubmissionStatus.submitted, now, None
        session.add(row)
    append_events(
        session,
        [
            NewEvent(
                case=facts[row.decision_id].case,
                type=EventType.dsa_statement_submitted,
                actor=actor,
                payload={
                    "puid": row.puid,
                    "decision_id": row.decision_id,
                    "batch_size": batch_size,
                    "http_status": answer.status,
                    "outcome": outcome,
                },
            )
            for row, _ in sent
        ],
    )


def _fail(rows: Sequence[DsaStatement], error: str) -> None:
    for row in rows:
        row.status, row.last_error = DsaSubmissionStatus.failed, error[:MAX_ERROR_CHARS]


def _defer(rows: Sequence[DsaStatement], error: str, *, last_try: bool) -> NoReturn:
    """Keep the reason, and give up on the rows when the runner will not try again."""
    for row in rows:
        row.last_error = error[:MAX_ERROR_CHARS]
        if last_try:
            row.status = DsaSubmissionStatus.failed
    raise SubmissionDeferred(error)


def _already_there(
    client: TransparencyClient, pending: Sequence[tuple[DsaStatement, dict]], answer: Answer
) -> list[tuple[DsaStatement, dict]]:
    """The statements of a refused batch the database already holds: those the errors point at
    (or, when they point at none, every one), as its puid check confirms."""
    errors = answer.body.get("errors") if isinstance(answer.body, Mapping) else None
    named = {
        int(match.group(1))
        for key in (errors if isinstance(errors, Mapping) else ())
        if (match := _BATCH_INDEX.match(str(key)))
    }
    candidates = [pending[i] for i in sorted(named) if i < len(pending)] or list(pending)
    return [item for item in candidates if client.puid_exists(item[0].puid)]


def _answer_words(answer: Answer) -> str:
    return f"HTTP {answer.status}: {answer.text}"


def submit_batch(
    session: Session,
    *,
    statement_ids: Sequence[int],
    config: Mapping[str, Any],
    actor: str,
    last_try: bool = False,
) -> int:
    """Post the batch's unsubmitted statements and record the outcome; how many are now
    submitted. SubmissionDeferred (after recording) when the database should be asked again."""
    rows = session.exec(
        select(DsaStatement)
        .where(
            col(DsaStatement.id).in_(statement_ids),
            DsaStatement.status != DsaSubmissionStatus.submitted,
        )
        .order_by(col(DsaStatement.id))
        .with_for_update()
    ).all()
    if not rows:
        return 0  # a repeat of a batch that went through
    try:
        client = TransparencyClient.from_config(config)
    except TransparencyConfigError as exc:
        _defer(rows, str(exc), last_try=last_try)  # the settings may be fixed before a retry
    decisions = session.exec(
        select(Decision).where(col(Decision.id).in_([r.decision_id for r in rows]))
    ).all()
    facts = decision_facts(session, decisions=decisions)
    policy = definitions().policy
    pending: list[tuple[DsaStatement, dict]] = []
    for row in rows:
        statement = build_statement(facts[row.decision_id], policy=policy, puid=row.puid)
        problems = statement_problems(statement)
        if problems:
            _fail([row], "not sent: " + "; ".join(problems))
        else:
            pending.append((row, statement))
    submitted = 0
    while pending:
        batch_rows = [row for row, _ in pending]
        for row in batch_rows:
            row.attempts += 1
        try:
            answer = client.submit([statement for _, statement in pending])
            existing = (
                _already_there(client, pending, answer)
                if answer.status == 422 and answer.mentions_existing
                else []
            )
        except TransparencyUnavailable as exc:
            _defer(batch_rows, str(exc), last_try=last_try)
        if answer.status == 201:
            outcome, sent = "created", pending
        elif existing:
            outcome, sent = "already_present", existing
        elif answer.status in RETRY_STATUSES or answer.status >= 500:
            _defer(batch_rows, _answer_words(answer), last_try=last_try)
        else:
            _fail(batch_rows, _answer_words(answer))
            return submitted
        _record_submitted(
            session,
            sent=sent,
            facts=facts,
            answer=answer,
            batch_size=len(pending),
            outcome=outcome,
            actor=actor,
        )
        submitted += len(sent)
        sent_ids = {row.id for row, _ in sent}
        pending = [item for item in pending if item[0].id not in sent_ids]
    return submitted
