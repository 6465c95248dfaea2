"""Alembic environment: the engine comes from the app (cases.migrate), metadata from the models."""

from alembic import context
from sqlmodel import SQLModel

import cases.models  # noqa: F401  (registers the working tables)
import cases.trail.models  # noqa: F401  (registers the trail tables)
from cases.core.migrate import include_object

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=include_object,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
