"""Knowledge bases, their files, the vector-store ids of each file's chunks, and file-chat uploads.

The chunk ids per file are what lets a file's chunks be deleted or replaced exactly. Each
knowledge base's ``store_key`` names its collection in the vector store; a new one is drawn
whenever the collection is started afresh (a new knowledge base, a rebuild), so nothing of an
older collection can ever be read as the new one's.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import Base, utcnow


def new_store_key() -> str:
    return uuid.uuid4().hex


class KnowledgeBase(Base):
    __tablename__ = "knowledge_base"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kb_name: Mapped[str] = mapped_column(String(50), unique=True)
    kb_info: Mapped[str] = mapped_column(Text, default="")
    vs_type: Mapped[str] = mapped_column(String(50), default="faiss")
    embed_model: Mapped[str] = mapped_column(String(100))
    hybrid: Mapped[bool] = mapped_column(Boolean, default=False)
    rerank: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=None)  # None: kb.rerank
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    store_key: Mapped[str] = mapped_column(String(32), unique=True, default=new_store_key)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    files: Mapped[list[KnowledgeFile]] = relationship(
        back_populates="knowledge_base", cascade="all, delete-orphan", passive_deletes=True
    )


class KnowledgeFile(Base):
    __tablename__ = "knowledge_file"
    __table_args__ = (UniqueConstraint("kb_id", "file_name", name="uq_knowledge_file_kb_id_file_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kb_id: Mapped[int] = mapped_column(ForeignKey("knowledge_base.id", ondelete="CASCADE"))
    file_name: Mapped[str] = mapped_column(String(255))
    file_ext: Mapped[str] = mapped_column(String(16))
    document_loader_name: Mapped[str] = mapped_column(String(50))
    text_splitter_name: Mapped[str] = mapped_column(String(50))
    file_version: Mapped[int] = mapped_column(Integer, default=1)
    file_mtime: Mapped[float] = mapped_column(Float, default=0.0)
    file_size: Mapped[int] = mapped_column(Integer, default=0)
    custom_docs: Mapped[bool] = mapped_column(Boolean, default=False)
    docs_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    knowledge_base: Mapped[KnowledgeBase] = relationship(back_populates="files")
    docs: Mapped[list[FileDoc]] = relationship(
        back_populates="file", cascade="all, delete-orphan", passive_deletes=True
    )


class FileDoc(Base):
    __tablename__ = "file_doc"
    __table_args__ = (Index("ix_file_doc_file_id", "file_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("knowledge_file.id", ondelete="CASCADE"))
    doc_id: Mapped[str] = mapped_column(String(50))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    file: Mapped[KnowledgeFile] = relationship(back_populates="docs")


class TempKnowledgeBase(Base):
    """The files of one file chat, indexed under an id any backend process can answer from."""

    __tablename__ = "temp_knowledge_base"
    __table_args__ = (Index("ix_temp_knowledge_base_used_at", "used_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vs_type: Mapped[str] = mapped_column(String(50))
    embed_model: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer, default=0)
    files: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime] = mapped_column(default=utcnow)
