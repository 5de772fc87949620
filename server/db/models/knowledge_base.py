"""Knowledge bases, their files, and the vector-store ids of each file's chunks.

The chunk ids per file are what lets a file's chunks be deleted or replaced exactly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import Base, utcnow


class KnowledgeBase(Base):
    __tablename__ = "knowledge_base"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kb_name: Mapped[str] = mapped_column(String(50), unique=True)
    kb_info: Mapped[str] = mapped_column(Text, default="")
    vs_type: Mapped[str] = mapped_column(String(50), default="faiss")
    embed_model: Mapped[str] = mapped_column(String(100))
    hybrid: Mapped[bool] = mapped_column(Boolean, default=False)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
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
