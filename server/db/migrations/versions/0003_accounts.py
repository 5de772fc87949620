"""Accounts: users, API keys, conversation and message owners, knowledge-base access.

Existing conversations and messages keep no owner (``user_id`` NULL) and existing knowledge bases
become public with no owner; the first admin account claims all of them, so an upgrade keeps
everything users had.

Revision ID: 0003_accounts
Revises: 0002_knowledge_base
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_accounts"
down_revision = "0002_knowledge_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("email", name="uq_user_account_email"),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("user_account.id", ondelete="CASCADE", name="fk_api_key_user_id_user_account"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("key_hash", name="uq_api_key_key_hash"),
    )
    op.create_index("ix_api_key_user_id", "api_key", ["user_id"])
    for table in ("conversation", "message"):
        # On SQLite this copies the table; server.db.migrate turns foreign keys off meanwhile, so
        # replacing ``conversation`` does not cascade to the messages.
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
            batch.create_foreign_key(
                f"fk_{table}_user_id_user_account", "user_account", ["user_id"], ["id"], ondelete="CASCADE"
            )
            batch.create_index(f"ix_{table}_user_id", ["user_id"])
    op.create_table(
        "kb_access",
        sa.Column(
            "kb_id",
            sa.Integer(),
            sa.ForeignKey("knowledge_base.id", ondelete="CASCADE", name="fk_kb_access_kb_id_knowledge_base"),
            primary_key=True,
        ),
        sa.Column(
            "owner_id",
            sa.Integer(),
            sa.ForeignKey("user_account.id", ondelete="SET NULL", name="fk_kb_access_owner_id_user_account"),
            nullable=True,
        ),
        sa.Column("visibility", sa.String(16), nullable=False),
    )
    op.create_table(
        "kb_share",
        sa.Column(
            "kb_id",
            sa.Integer(),
            sa.ForeignKey("knowledge_base.id", ondelete="CASCADE", name="fk_kb_share_kb_id_knowledge_base"),
            primary_key=True,
        ),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("user_account.id", ondelete="CASCADE", name="fk_kb_share_user_id_user_account"),
            primary_key=True,
        ),
        sa.Column("permission", sa.String(8), nullable=False),
    )
    # What existed before accounts stays available to everyone who signs in; the first admin owns it.
    op.execute(
        "INSERT INTO kb_access (kb_id, owner_id, visibility) SELECT id, NULL, 'public' FROM knowledge_base"
    )


def downgrade() -> None:
    op.drop_table("kb_share")
    op.drop_table("kb_access")
    for table in ("message", "conversation"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_user_id")
            batch.drop_constraint(f"fk_{table}_user_id_user_account", type_="foreignkey")
            batch.drop_column("user_id")
    op.drop_index("ix_api_key_user_id", table_name="api_key")
    op.drop_table("api_key")
    op.drop_table("user_account")
