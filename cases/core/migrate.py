"""Alembic, driven from the app's engine so `flask --app app db upgrade` needs no alembic.ini."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


# What only a hand-written migration can express: a descending index column, a GIN index, and
# PostgreSQL's stored full-text document of a report (migration 0003).
MIGRATION_ONLY_INDEXES = frozenset({"ix_case_file_queue_priority", "ix_report_fts"})
MIGRATION_ONLY_COLUMNS = frozenset({"search_document"})


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Skip what the models do not describe on purpose: SQLite full-text index tables and the
    indexes and columns above."""
    if not reflected or compare_to is not None:
        return True
    if type_ == "table":
        return "_fts" not in name
    if type_ == "index":
        return name not in MIGRATION_ONLY_INDEXES
    return not (type_ == "column" and name in MIGRATION_ONLY_COLUMNS)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)
