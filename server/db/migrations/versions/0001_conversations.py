"""Conversations and messages.

Revision ID: 0001_conversations
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_conversations"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("chat_type", sa.String(50), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "message",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey(
                "conversation.id", ondelete="CASCADE", name="fk_message_conversation_id_conversation"
            ),
            nullable=True,
        ),
        sa.Column("chat_type", sa.String(50), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("feedback_score", sa.Integer(), nullable=True),
        sa.Column("feedback_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_message_conversation_created", "message", ["conversation_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_message_conversation_created", table_name="message")
    op.drop_table("message")
    op.drop_table("conversation")
