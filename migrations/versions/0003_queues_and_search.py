"""queue index on descending priority; full-text search over report text

Revision ID: 0003
Revises: 0002

Autogenerate cannot render a descending index column, so the queue-by-priority index is created
here (cases.migrate.MIGRATION_ONLY_INDEXES keeps the model comparison quiet about it). Report text
(explanation and location) is searchable: on SQLite through an external-content FTS5 table kept in
step by triggers; on PostgreSQL through a stored generated tsvector column with a GIN index.
Stored rather than an expression index: every match the index finds is rechecked against the
document, and recomputing to_tsvector for each (some 30 µs a report) made a search for two common
words take most of a second at a million reports; reading the stored one costs about a microsecond.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

QUEUE_PRIORITY_INDEX = (
    "CREATE INDEX ix_case_file_queue_priority ON case_file (queue, priority DESC, id)"
)

# cases.search queries this column; erasure blanking the text recomputes it.
POSTGRES_SEARCH_DOCUMENT = (
    "ALTER TABLE report ADD COLUMN search_document tsvector GENERATED ALWAYS AS "
    "(to_tsvector('english'::regconfig, coalesce(explanation, '') || ' ' || coalesce(location, ''))) "
    "STORED"
)

SQLITE_FTS = (
    # Porter stemming on both engines, so "harassing" finds "harassment" wherever it runs.
    "CREATE VIRTUAL TABLE report_fts USING fts5(explanation, location, content='report', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER report_fts_after_insert AFTER INSERT ON report BEGIN "
    "INSERT INTO report_fts (rowid, explanation, location) "
    "VALUES (new.id, new.explanation, new.location); END",
    "CREATE TRIGGER report_fts_after_delete AFTER DELETE ON report BEGIN "
    "INSERT INTO report_fts (report_fts, rowid, explanation, location) "
    "VALUES ('delete', old.id, old.explanation, old.location); END",
    # Erasure blanks report text: the index must forget it too.
    "CREATE TRIGGER report_fts_after_update AFTER UPDATE OF explanation, location ON report BEGIN "
    "INSERT INTO report_fts (report_fts, rowid, explanation, location) "
    "VALUES ('delete', old.id, old.explanation, old.location); "
    "INSERT INTO report_fts (rowid, explanation, location) "
    "VALUES (new.id, new.explanation, new.location); END",
    "INSERT INTO report_fts (report_fts) VALUES ('rebuild')",
)


def upgrade() -> None:
    op.execute(QUEUE_PRIORITY_INDEX)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_SEARCH_DOCUMENT)
        op.execute("CREATE INDEX ix_report_fts ON report USING gin (search_document)")
        return
    for statement in SQLITE_FTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_report_fts")
        op.execute("ALTER TABLE report DROP COLUMN IF EXISTS search_document")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS report_fts_after_{trigger}")
        op.execute("DROP TABLE IF EXISTS report_fts")
    op.execute("DROP INDEX IF EXISTS ix_case_file_queue_priority")
