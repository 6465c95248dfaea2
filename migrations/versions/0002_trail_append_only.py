"""trail tables are append-only; seed the log head

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen as of this revision (a migration must not change when the models do); the trigger tests
# hold the migrated schema to cases.trail.models.TRAIL_INSERT_ONLY.
INSERT_ONLY = ("case_event", "log_leaf", "log_node", "checkpoint", "blob")
# Erasure deletes payload rows (the commitment in the header stays); nobody edits them.
NO_UPDATE = ("event_payload",)


def upgrade() -> None:
    op.execute("INSERT INTO log_head (id, size, border) VALUES (1, 0, '[]')")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION docket_trail_append_only() RETURNS trigger AS $$
            BEGIN
              RAISE EXCEPTION 'trail table % is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table in INSERT_ONLY + NO_UPDATE:
            events = "UPDATE OR DELETE" if table in INSERT_ONLY else "UPDATE"
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE {events} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION docket_trail_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION docket_trail_append_only()"
            )
        return
    for table in INSERT_ONLY + NO_UPDATE:
        operations = ("UPDATE", "DELETE") if table in INSERT_ONLY else ("UPDATE",)
        for operation in operations:
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'trail table {table} is append-only: "
                f"{operation} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in INSERT_ONLY + NO_UPDATE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS docket_trail_append_only()")
    else:
        for table in INSERT_ONLY + NO_UPDATE:
            for operation in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
    op.execute("DELETE FROM log_head")
