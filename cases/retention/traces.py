"""What a database keeps of erased values after the rows changed, and removing it.

SQLite: every connection runs with `secure_delete` on (`cases.core.db`), so the space a changed
or deleted row frees is zeroed, not left for reuse. The full-text index (an FTS5 table over the
report text, migration 0003) is told of each change by the report triggers, which delete the
old words with the old values; but FTS5 records a deletion as a marker in a new segment, and the
old words stay in the old segments until those are merged. `purge_search_index` merges the whole
index into one segment ('optimize'), which drops them; with `secure_delete` the freed pages are
zeroed. The old page images may also sit in the write-ahead log until it is checkpointed:
`reclaim_space` checkpoints it and truncates the file.

PostgreSQL: an UPDATE leaves the old row version (and its index entries, and the stored tsvector
of the report) in place until VACUUM removes it; `reclaim_space` vacuums the tables an erasure
touches, index cleanup forced (left to itself, VACUUM skips the indexes when few rows died, and
an index entry holds the old value). VACUUM frees the space for reuse; it does not overwrite it,
nor the write-ahead log's copies (recycled as the server goes on): encrypt the disk for more.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cases.retention.service import TOUCHED_TABLES

SQLITE_SEARCH_INDEX = "report_fts"


def _postgres(bind: Engine | sa.Connection) -> bool:
    return bind.dialect.name == "postgresql"


def purge_search_index(session: Session) -> None:
    """Rewrite SQLite's full-text index without the words of erased text (in the caller's
    transaction; PostgreSQL needs `reclaim_space` instead)."""
    if _postgres(session.get_bind()):
        return
    session.connection().exec_driver_sql(
        f"INSERT INTO {SQLITE_SEARCH_INDEX} ({SQLITE_SEARCH_INDEX}) VALUES ('optimize')"
    )


def reclaim_space(engine: Engine) -> None:
    """Remove old row versions (PostgreSQL: VACUUM) or old page images (SQLite: checkpoint and
    truncate the write-ahead log). Runs outside any transaction, after the erasures commit."""
    if _postgres(engine):
        # VACUUM refuses to run in a transaction block.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"VACUUM (INDEX_CLEANUP ON) {', '.join(TOUCHED_TABLES)}")
        return
    # The driver's own connection: SQLAlchemy would open a transaction (BEGIN IMMEDIATE), and
    # a checkpoint cannot run inside one.
    connection = engine.raw_connection()
    try:
        connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    finally:
        connection.close()


def purge_traces(engine: Engine) -> None:
    """Both, once the erasures have committed (the command line's way; a job's transaction is
    already open: see `cases.retention.jobs`)."""
    with Session(engine) as session:
        purge_search_index(session)
        session.commit()
    reclaim_space(engine)
