"""child safety

Revision ID: 0006
Revises: 0005
NcmecReport (a resumable CyberTipline submission), KnownHash (hashes of confirmed material and
imported lists) and EvidenceView (who opened which file, why: custody, exposure, fileViewedByEsp).
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import cases.core.sqltypes

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_view",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("blob_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("media_type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("viewed_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("evidence_view", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_view_blob_sha256"), ["blob_sha256"], unique=False
        )
        batch_op.create_index(
            "ix_evidence_view_user_viewed", ["user_id", "viewed_at"], unique=False
        )

    op.create_table(
        "known_hash",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("algorithm", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("added_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["staff_user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("algorithm", "value"),
    )
    op.create_table(
        "ncmec_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("incident_type", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("incident_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("additional_info", sa.Text(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("ncmec_report_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("opened_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_changed_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retracted_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("report_xml", sa.Text(), nullable=True),
        sa.Column("receipt", sa.Text(), nullable=True),
        sa.Column("responses", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("prepared_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cases.core.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.ForeignKeyConstraint(
            ["prepared_by_id"],
            ["staff_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ncmec_report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ncmec_report_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ncmec_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ncmec_report_case_id"))

    op.drop_table("ncmec_report")
    op.drop_table("known_hash")
    with op.batch_alter_table("evidence_view", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_view_user_viewed")
        batch_op.drop_index(batch_op.f("ix_evidence_view_blob_sha256"))

    op.drop_table("evidence_view")
