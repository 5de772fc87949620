"""Knowledge bases, their files and the chunk ids of each file.

Revision ID: 0002_knowledge_base
Revises: 0001_conversations
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_knowledge_base"
down_revision = "0001_conversations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_base",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kb_name", sa.String(50), nullable=False),
        sa.Column("kb_info", sa.Text(), nullable=False),
        sa.Column("vs_type", sa.String(50), nullable=False),
        sa.Column("embed_model", sa.String(100), nullable=False),
        sa.Column("hybrid", sa.Boolean(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("kb_name", name="uq_knowledge_base_kb_name"),
    )
    op.create_table(
        "knowledge_file",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "kb_id",
            sa.Integer(),
            sa.ForeignKey(
                "knowledge_base.id", ondelete="CASCADE", name="fk_knowledge_file_kb_id_knowledge_base"
            ),
            nullable=False,
        ),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_ext", sa.String(16), nullable=False),
        sa.Column("document_loader_name", sa.String(50), nullable=False),
        sa.Column("text_splitter_name", sa.String(50), nullable=False),
        sa.Column("file_version", sa.Integer(), nullable=False),
        sa.Column("file_mtime", sa.Float(), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("custom_docs", sa.Boolean(), nullable=False),
        sa.Column("docs_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("kb_id", "file_name", name="uq_knowledge_file_kb_id_file_name"),
    )
    op.create_table(
        "file_doc",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "file_id",
            sa.Integer(),
            sa.ForeignKey("knowledge_file.id", ondelete="CASCADE", name="fk_file_doc_file_id_knowledge_file"),
            nullable=False,
        ),
        sa.Column("doc_id", sa.String(50), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
    )
    op.create_index("ix_file_doc_file_id", "file_doc", ["file_id"])


def downgrade() -> None:
    op.drop_index("ix_file_doc_file_id", table_name="file_doc")
    op.drop_table("file_doc")
    op.drop_table("knowledge_file")
    op.drop_table("knowledge_base")
