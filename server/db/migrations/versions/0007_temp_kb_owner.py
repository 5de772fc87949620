"""File-chat uploads name their owner, so only they may use one on any backend, after a restart too.

Uploads made before this revision have no owner row and are no longer usable with accounts on;
they expire as before.

Revision ID: 0007_temp_kb_owner
Revises: 0006_mcp_created_by_email
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_temp_kb_owner"
down_revision = "0006_mcp_created_by_email"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "temp_kb_owner",
        sa.Column(
            "temp_id",
            sa.String(32),
            sa.ForeignKey(
                "temp_knowledge_base.id",
                ondelete="CASCADE",
                name="fk_temp_kb_owner_temp_id_temp_knowledge_base",
            ),
            primary_key=True,
        ),
        sa.Column(
            "owner_id",
            sa.Integer(),
            sa.ForeignKey(
                "user_account.id", ondelete="CASCADE", name="fk_temp_kb_owner_owner_id_user_account"
            ),
            nullable=True,
        ),
    )


def downgrade() -> None:
    op.drop_table("temp_kb_owner")
