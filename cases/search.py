"""Finding cases: by reference, by subject id, and by words in report text (the explanation and the
location of every report on the case).

Text search runs on the database's own full-text index (migration 0003): an FTS5 table on SQLite,
a GIN index over `POSTGRES_REPORT_DOCUMENT` on PostgreSQL. Both stem English words and require
every word of the query. Restricted cases are filtered in each query, so a viewer not cleared for
them cannot find one by any of the three routes.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session, col, select

from cases.access import Viewer, visible_cases
from cases.models import Case, Report, Subject

# Identical to the expression indexed by migration 0003, or PostgreSQL will not use the index.
POSTGRES_REPORT_DOCUMENT = (
    "to_tsvector('english'::regconfig, "
    "coalesce(report.explanation, '') || ' ' || coalesce(report.location, ''))"
)
POSTGRES_QUERY = "plainto_tsquery('english'::regconfig, :words)"
MAX_QUERY = 200
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
    """Cases `viewer` may see whose reference or subject id is `query`, then cases with a report
    containing all of its words (newest first), at most `limit`."""
    query = query.strip()[:MAX_QUERY]
    if not query:
        return []
    found: dict[int, tuple[Case, str]] = {}
    by_reference = visible_cases(viewer).where(Case.reference == query.upper())
    by_subject = (
        visible_cases(viewer)
        .join(Subject, Subject.id == Case.subject_id)
        .where(Subject.external_id == query)
        .order_by(col(Case.id).desc())
        .limit(limit)
    )
    for statement, matched in (
        (by_reference, SearchMatch.reference),
        (by_subject, SearchMatch.subject),
    ):
        for case in session.exec(statement):
            found.setdefault(case.id, (case, matched))
    words = WORD.findall(query)
    if words and len(found) < limit:
        matching_reports = _report_text_match(session, words)
        by_text = (
            visible_cases(viewer)
            .where(col(Case.id).in_(select(Report.case_id).where(matching_reports)))
            .order_by(col(Case.id).desc())
            .limit(limit)
        )
        for case in session.exec(by_text):
            found.setdefault(case.id, (case, SearchMatch.report_text))
    hits = list(found.values())[:limit]
    subjects = _subjects(session, {case.subject_id for case, _ in hits})
    text_hits = [case.id for case, matched in hits if matched == SearchMatch.report_text]
    excerpts = _excerpts(session, words, text_hits) if text_hits else {}
    return [
        SearchHit(case, subjects[case.subject_id], matched, excerpts.get(case.id, ()))
        for case, matched in hits
    ]


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _fts5_query(words: list[str]) -> str:
    # Each word quoted, so nothing a user types is read as FTS5 syntax; juxtaposition means AND.
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def _report_text_match(session: Session, words: list[str]) -> sa.ColumnElement[bool]:
    """Reports whose explanation or location contains every word."""
    if _postgres(session):
        return sa.text(f"{POSTGRES_REPORT_DOCUMENT} @@ {POSTGRES_QUERY}").bindparams(
            words=" ".join(words)
        )
    fts = sa.text("SELECT rowid FROM report_fts WHERE report_fts MATCH :words").bindparams(
        words=_fts5_query(words)
    )
    return col(Report.id).in_(fts.columns(sa.column("rowid", sa.Integer)))


def _excerpts(
    session: Session, words: list[str], case_ids: list[int]
) -> dict[int, tuple[tuple[str, bool], ...]]:
    """One excerpt per case: its newest matching report's text around the matched words."""
    if _postgres(session):
        statement = sa.text(
            "SELECT case_id, ts_headline('english'::regconfig, coalesce(explanation, '') || ' ' "
            f"|| coalesce(location, ''), {POSTGRES_QUERY}, :options) FROM report "
            f"WHERE case_id IN :case_ids AND {POSTGRES_REPORT_DOCUMENT} @@ {POSTGRES_QUERY} "
            "ORDER BY id"
        ).bindparams(
            words=" ".join(words),
            options=f"StartSel={START}, StopSel={STOP}, MaxWords=24, MinWords=10",
        )
    else:
        statement = sa.text(
            "SELECT report.case_id, snippet(report_fts, -1, :start, :stop, '…', 16) "
            "FROM report_fts JOIN report ON report.id = report_fts.rowid "
            "WHERE report_fts MATCH :words AND report.case_id IN :case_ids ORDER BY report.id"
        ).bindparams(words=_fts5_query(words), start=START, stop=STOP)
    statement = statement.bindparams(sa.bindparam("case_ids", case_ids, expanding=True))
    # Ordered by report id, so the newest matching report of each case wins.
    return {case_id: _pieces(text) for case_id, text in session.connection().execute(statement)}


def _pieces(marked: str) -> tuple[tuple[str, bool], ...]:
    pieces = []
    for index, part in enumerate(re.split(f"[{START}{STOP}]", marked)):
        if part:
            pieces.append((part, index % 2 == 1))
    return tuple(pieces)


def _subjects(session: Session, ids: set[int]) -> dict[int, Subject]:
    return {s.id: s for s in session.exec(select(Subject).where(col(Subject.id).in_(ids)))}
