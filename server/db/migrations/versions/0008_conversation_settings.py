"""Conversations keep the web UI's settings (chat mode, knowledge base, template, options).

Reopening a conversation then continues it the way it was held, instead of as plain LLM chat.

Revision ID: 0008_conversation_settings
Revises: 0007_temp_kb_owner
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_conversation_settings"
down_revision = "0007_temp_kb_owner"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation") as batch:
        batch.add_column(sa.Column("settings", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("conversation") as batch:
        batch.drop_column("settings")
