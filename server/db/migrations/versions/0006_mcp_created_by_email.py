"""MCP connections name the admin who added them by email, so ``created_by`` holds up to 320 characters.

Databases made before accounts were in the chain are stamped ``0005_mcp_servers`` without ever
having run ``0003_accounts``: Alembic would now count it as done. Those made while the MCP
connections came straight after ``0002_knowledge_base`` lack ``0004_kb_storage`` as well. Such a
database gets what it lacks here, from those revisions' own upgrades (``0003_accounts`` also makes
the existing knowledge bases public for the first admin to claim), so the upgrade keeps what users had.

Revision ID: 0006_mcp_created_by_email
Revises: 0005_mcp_servers
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0006_mcp_created_by_email"
down_revision = "0005_mcp_servers"
branch_labels = None
depends_on = None

ACCOUNTS = "0003_accounts"
KB_STORAGE = "0004_kb_storage"


def _run(revision: str) -> None:
    script = context.script.get_revision(revision)
    assert script is not None, revision
    script.module.upgrade()


def upgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table("user_account"):
        _run(ACCOUNTS)
    if not sa.inspect(op.get_bind()).has_table("temp_knowledge_base"):
        _run(KB_STORAGE)
    with op.batch_alter_table("mcp_connection") as batch:
        batch.alter_column("created_by", existing_type=sa.String(64), type_=sa.String(320))


def downgrade() -> None:
    with op.batch_alter_table("mcp_connection") as batch:
        batch.alter_column("created_by", existing_type=sa.String(320), type_=sa.String(64))
