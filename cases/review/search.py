"""Finding cases: by reference, by subject id, and by words in report text (the explanation and the
location of every report on the case).

Text search runs on the database's own full-text index (migration 0003): an FTS5 table on SQLite,
a GIN-indexed stored tsvector column on PostgreSQL. Both stem English words and require
every word of the query. Restricted cases are filtered in each query, so a viewer not cleared for
them cannot find one by any of the three routes.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session, col, select

from cases.accounts.access import Viewer, visible_cases
from cases.enums import SubjectKind
from cases.models import Case, Subject

# The stored, GIN-indexed tsvector of a report's explanation and location (migration 0003).
POSTGRES_REPORT_DOCUMENT = "report.search_document"
# The PostgreSQL parser reads the query as it reads the text (a host name stays one token).
POSTGRES_QUERY = "plainto_tsquery('english'::regconfig, :words)"
MAX_QUERY = 200
# Text search reads the newest (limit × TEXT_WINDOW) matching reports, not every match: a search
# for a common word stays as fast as one for a rare word. Older matches need more precise words.
TEXT_WINDOW = 10
# Excerpt markers: control characters, which real report text does not contain (a stray one would
# only misplace a highlight).
START, STOP = "\x02", "\x03"
WORD = re.compile(r"\w+")


class SearchMatch(StrEnum):
    reference = "reference"
    subject = "subject id"
    report_text = "report text"


@dataclass(frozen=True)
class SearchHit:
    case: Case
    subject: Subject
    matched: SearchMatch
    excerpt: tuple[tuple[str, bool], ...] = ()
    """Report text around the matched words, as (text, is a match) pieces."""


def search_cases(
    session: Session, *, query: str, viewer: Viewer, limit: int = 50
) -> list[SearchHit]:
    """Cases `viewer` may see whose reference or subject id is `query`, then cases with one of the
    newest reports containing all of its words (newest case first), at most `limit`."""
    query = query.strip()[:MAX_QUERY]
    if not query:
        return []
    found: dict[int, tuple[Case, str]] = {}
    by_reference = visible_cases(viewer).where(Case.reference == query.upper())
    # Every kind listed, so the (kind, external_id) unique index finds the subject by seeks.
    subjects = select(Subject.id).where(
        col(Subject.kind).in_(list(SubjectKind)), Subject.external_id == query
    )
    by_subject = (
        visible_cases(viewer)
        .where(col(Case.subject_id).in_(subjects))
        .order_by(col(Case.id).desc())
        .limit(limit)
    )
    for statement, matched in (
        (by_reference, SearchMatch.reference),
        (by_subject, SearchMatch.subject),
    ):
        for case in session.exec(statement):
            found.setdefault(case.id, (case, matched))
    words = _text_query(session, query) if WORD.search(query) else None
    newest_match: dict[int, int] = {}  # case id → its newest matching report
    if words and len(found) < limit:
        for report_id, case_id in _matching_reports(session, words, window=limit * TEXT_WINDOW):
            newest_match.setdefault(case_id, report_id)
        by_text = (
            visible_cases(viewer)
            .where(col(Case.id).in_(list(newest_match)))
            .order_by(col(Case.id).desc())
            .limit(limit)
        )
        for case in session.exec(by_text):
            found.setdefault(case.id, (case, SearchMatch.report_text))
    hits = list(found.values())[:limit]
    subjects = _subjects(session, {case.subject_id for case, _ in hits})
    excerpt_of = [
        newest_match[case.id] for case, matched in hits if matched == SearchMatch.report_text
    ]
    excerpts = _excerpts(session, words, excerpt_of) if excerpt_of else {}
    return [
        SearchHit(case, subjects[case.subject_id], matched, excerpts.get(case.id, ()))
        for case, matched in hits
    ]


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _text_query(session: Session, query: str) -> str:
    """The query as the engine's full-text search takes it: all words required, no operators."""
    if _postgres(session):
        return query  # plainto_tsquery ignores operators and punctuation
    # Each word quoted, so nothing a user types is read as FTS5 syntax; juxtaposition means AND.
    return " ".join('"' + word + '"' for word in WORD.findall(query))


def _matching_reports(session: Session, words: str, *, window: int) -> list[tuple[int, int]]:
    """(report id, case id) of the newest `window` reports whose explanation or location holds
    every word, newest first. Bounded, so a common word costs no more than a rare one."""
    if _postgres(session):
        statement = sa.text(
            f"SELECT id, case_id FROM report WHERE {POSTGRES_REPORT_DOCUMENT} @@ {POSTGRES_QUERY} "
            "ORDER BY id DESC LIMIT :window"
        )
    else:
        # FTS5 walks its doclists in rowid order and stops at the limit.
        statement = sa.text(
            "SELECT report.id, report.case_id FROM report JOIN "
            "(SELECT rowid FROM report_fts WHERE report_fts MATCH :words "
            "ORDER BY rowid DESC LIMIT :window) AS matched ON matched.rowid = report.id "
            "ORDER BY report.id DESC"
        )
    rows = session.connection().execute(statement, {"words": words, "window": window})
    return [(report_id, case_id) for report_id, case_id in rows]


def _excerpts(
    session: Session, words: str, report_ids: list[int]
) -> dict[int, tuple[tuple[str, bool], ...]]:
    """Each report's text around the matched words, by case id."""
    if _postgres(session):
        statement = sa.text(
            "SELECT case_id, ts_headline('english'::regconfig, coalesce(explanation, '') || ' ' "
            f"|| coalesce(location, ''), {POSTGRES_QUERY}, :options) FROM report "
            "WHERE id IN :report_ids"
        ).bindparams(
            words=words,
            options=f"StartSel={START}, StopSel={STOP}, MaxWords=24, MinWords=10",
        )
    else:
        statement = sa.text(
            "SELECT report.case_id, snippet(report_fts, -1, :start, :stop, '…', 16) "
            "FROM report_fts JOIN report ON report.id = report_fts.rowid "
            "WHERE report_fts MATCH :words AND report_fts.rowid IN :report_ids"
        ).bindparams(words=words, start=START, stop=STOP)
    statement = statement.bindparams(sa.bindparam("report_ids", report_ids, expanding=True))
    return {case_id: _pieces(text) for case_id, text in session.connection().execute(statement)}


def _pieces(marked: str) -> tuple[tuple[str, bool], ...]:
    pieces = []
    for index, part in enumerate(re.split(f"[{START}{STOP}]", marked)):
        if part:
            pieces.append((part, index % 2 == 1))
    return tuple(pieces)


def _subjects(session: Session, ids: set[int]) -> dict[int, Subject]:
    return {s.id: s for s in session.exec(select(Subject).where(col(Subject.id).in_(ids)))}
