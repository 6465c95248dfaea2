"""Alembic, driven from the app's engine so `flask --app app db upgrade` needs no alembic.ini."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Skip tables the models do not describe on purpose (SQLite full-text index tables)."""
    return not (type_ == "table" and reflected and compare_to is None and "_fts" in name)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def database_is_new(engine: Engine) -> bool:
    return "alembic_version" not in inspect(engine).get_table_names()
