"""Each knowledge base may choose reranking for itself (null: follow kb.rerank).

Revision ID: 0010_kb_rerank
Revises: 0009_ingest_jobs
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_kb_rerank"
down_revision = "0009_ingest_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_base") as batch:
        batch.add_column(sa.Column("rerank", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("knowledge_base") as batch:
        batch.drop_column("rerank")
