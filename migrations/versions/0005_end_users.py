"""end users: links, messages, appeals, access requests

Revision ID: 0005
Revises: 0004
StatusLink rows make private links revocable; Message rows record every notice per channel;
appeals gain the appellant's report, channel, attachments, reasons and resulting decision; a
decision records when its subject was informed (the appeal window runs from there); subjects
gain a locale; access requests (GDPR Art. 15) get their table.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import cases.core.sqltypes

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("received_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("fulfilled_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fulfilled_by_id", sa.Integer(), nullable=True),
        sa.Column("export_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.ForeignKeyConstraint(
            ["fulfilled_by_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subject.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_request_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_access_request_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "status_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.Column("last_used_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["report.id"],
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"],
            ["staff_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("status_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_status_link_case_id"), ["case_id"], unique=False)

    op.create_table(
        "message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("recipient_role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("template", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decision.id"],
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["status_link.id"],
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["report.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_message_outbox_id"), ["outbox_id"], unique=False)

    with op.batch_alter_table("appeal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "channel",
                sqlmodel.sql.sqltypes.AutoString(length=12),
                nullable=False,
                server_default="portal",
            )
        )
        batch_op.add_column(
            sa.Column("attachments", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("reasons", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("resulting_decision_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_appeal_report_id_report", "report", ["report_id"], ["id"])
        batch_op.create_foreign_key(
            "fk_appeal_resulting_decision_id_decision",
            "decision",
            ["resulting_decision_id"],
            ["id"],
        )

    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("informed_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("subject", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("contact_locale", sqlmodel.sql.sqltypes.AutoString(length=35), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("subject", schema=None) as batch_op:
        batch_op.drop_column("contact_locale")

    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_column("informed_at")

    with op.batch_alter_table("appeal", schema=None) as batch_op:
        batch_op.drop_constraint("fk_appeal_resulting_decision_id_decision", type_="foreignkey")
        batch_op.drop_constraint("fk_appeal_report_id_report", type_="foreignkey")
        batch_op.drop_column("resulting_decision_id")
        batch_op.drop_column("reasons")
        batch_op.drop_column("attachments")
        batch_op.drop_column("channel")
        batch_op.drop_column("report_id")

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_outbox_id"))
        batch_op.drop_index(batch_op.f("ix_message_case_id"))

    op.drop_table("message")
    with op.batch_alter_table("status_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_status_link_case_id"))

    op.drop_table("status_link")
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_request_subject_id"))
        batch_op.drop_index(batch_op.f("ix_access_request_status"))

    op.drop_table("access_request")
