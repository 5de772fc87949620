"""Who may read or write a knowledge base: its owner, its visibility and the users it is shared with.

Kept beside the knowledge-base tables rather than in them, so storage and access evolve apart; a
row goes when its knowledge base goes (foreign keys cascade).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base


class KnowledgeBaseAccess(Base):
    __tablename__ = "kb_access"

    kb_id: Mapped[int] = mapped_column(ForeignKey("knowledge_base.id", ondelete="CASCADE"), primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )
    visibility: Mapped[str] = mapped_column(String(16), default="private")  # private | shared | public


class KnowledgeBaseShare(Base):
    __tablename__ = "kb_share"

    kb_id: Mapped[int] = mapped_column(ForeignKey("knowledge_base.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    permission: Mapped[str] = mapped_column(String(8), default="read")  # read | write


class TempKnowledgeBaseOwner(Base):
    """Who made a file-chat upload; only they may chat with it or download its files.

    In the database beside the upload's row (and gone with it), so every backend replica and a
    restarted backend know it.
    """

    __tablename__ = "temp_kb_owner"

    temp_id: Mapped[str] = mapped_column(
        ForeignKey("temp_knowledge_base.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), nullable=True
    )
