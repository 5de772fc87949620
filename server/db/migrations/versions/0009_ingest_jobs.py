"""Ingestion jobs: state, progress per file, results, errors and timings of each upload or rebuild.

Revision ID: 0009_ingest_jobs
Revises: 0008_conversation_settings
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_ingest_jobs"
down_revision = "0008_conversation_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_job",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("kb_name", sa.String(50), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("background", sa.Boolean(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("error_status", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["user_account.id"],
            name=op.f("fk_ingest_job_owner_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_job")),
    )
    op.create_index("ix_ingest_job_owner_id_created_at", "ingest_job", ["owner_id", "created_at"])
    op.create_index("ix_ingest_job_state", "ingest_job", ["state"])


def downgrade() -> None:
    op.drop_index("ix_ingest_job_state", table_name="ingest_job")
    op.drop_index("ix_ingest_job_owner_id_created_at", table_name="ingest_job")
    op.drop_table("ingest_job")
