from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from cases.core import migrate
from cases.core.migrate import include_object


def test_migrations_build_every_model_table(app):
    engine = app.extensions["docket.db"]
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(app):
    engine = app.extensions["docket.db"]
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == [], f"models differ from migrations; autogenerate would emit: {diff}"


def test_upgrade_is_idempotent_and_seeds_the_log_head(app):
    engine = app.extensions["docket.db"]
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id, size FROM log_head")).all() == [(1, 0)]
