"""trail events are appended pending and integrated into the log later

Revision ID: 0008
Revises: 0007
An event is now stored with no log index and given one by the log integrator. That one change of
an event row, its log index from NULL to a value, is the only UPDATE the case_event trigger lets
through; every stored header, hash and index stays as it is (existing events are all integrated).
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Frozen as of this revision: every case_event column but log_index.
FIXED = ("id", "case_id", "seq", "prev_hash", "entry_hash", "type", "actor", "at", "header")
REFUSAL = "trail table case_event is append-only: UPDATE refused"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION docket_case_event_integrate_only() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'UPDATE' AND OLD.log_index IS NULL AND NEW.log_index IS NOT NULL
                 AND to_jsonb(NEW) - 'log_index' = to_jsonb(OLD) - 'log_index' THEN
                RETURN NEW;
              END IF;
              RAISE EXCEPTION 'trail table % is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute("DROP TRIGGER case_event_append_only ON case_event")
        op.execute(
            "CREATE TRIGGER case_event_append_only BEFORE UPDATE OR DELETE ON case_event "
            "FOR EACH ROW EXECUTE FUNCTION docket_case_event_integrate_only()"
        )
        return
    unchanged = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in FIXED)
    op.execute("DROP TRIGGER case_event_no_update")
    op.execute(
        "CREATE TRIGGER case_event_no_update BEFORE UPDATE ON case_event "
        f"WHEN NOT (OLD.log_index IS NULL AND NEW.log_index IS NOT NULL AND {unchanged}) "
        f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER case_event_append_only ON case_event")
        op.execute(
            "CREATE TRIGGER case_event_append_only BEFORE UPDATE OR DELETE ON case_event "
            "FOR EACH ROW EXECUTE FUNCTION docket_trail_append_only()"
        )
        op.execute("DROP FUNCTION docket_case_event_integrate_only()")
        return
    op.execute("DROP TRIGGER case_event_no_update")
    op.execute(
        "CREATE TRIGGER case_event_no_update BEFORE UPDATE ON case_event "
        f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
    )
