"""Knowledge-base storage: a collection key per knowledge base, file-chat uploads in the database.

Revision ID: 0004_kb_storage
Revises: 0003_accounts
Create Date: 2026-11-27
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0004_kb_storage"
down_revision = "0003_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_base") as batch:
        batch.add_column(sa.Column("store_key", sa.String(32), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id FROM knowledge_base")).fetchall()
    for (kb_id,) in rows:
        connection.execute(
            sa.text("UPDATE knowledge_base SET store_key = :key WHERE id = :id"),
            {"key": uuid.uuid4().hex, "id": kb_id},
        )
    with op.batch_alter_table("knowledge_base") as batch:
        batch.alter_column("store_key", existing_type=sa.String(32), nullable=False)
        batch.create_unique_constraint("uq_knowledge_base_store_key", ["store_key"])
    op.create_table(
        "temp_knowledge_base",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("vs_type", sa.String(50), nullable=False),
        sa.Column("embed_model", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_temp_knowledge_base_used_at", "temp_knowledge_base", ["used_at"])


def downgrade() -> None:
    op.drop_index("ix_temp_knowledge_base_used_at", table_name="temp_knowledge_base")
    op.drop_table("temp_knowledge_base")
    with op.batch_alter_table("knowledge_base") as batch:
        batch.drop_constraint("uq_knowledge_base_store_key", type_="unique")
        batch.drop_column("store_key")
