"""The knowledge-base catalogue in the database: knowledge bases, their files, each file's chunk ids.

Every lookup of a knowledge base or a file by name is written here once; the services above
call these inside their own sessions and transactions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models.knowledge_base import FileDoc, KnowledgeBase, KnowledgeFile
from server.knowledge_base.errors import FileNotInKnowledgeBase, KnowledgeBaseNotFound
from server.knowledge_base.paths import KbPaths, check_kb_name, relative_files
from server.knowledge_base.stores.factory import Collection


@dataclass
class KbSummary:
    kb_name: str
    kb_info: str
    vs_type: str
    embed_model: str
    hybrid: bool
    file_count: int
    created_at: datetime | None
    store_key: str = field(default="", repr=False)
    id: int = field(default=0, repr=False)
    rerank: bool | None = None  # this KB's own choice; None = kb.rerank

    def public(self) -> dict[str, Any]:
        """The fields the API shows (the store key and row id are internal)."""
        return {k: v for k, v in vars(self).items() if k not in ("store_key", "id")}


@dataclass
class FileSummary:
    file_name: str
    file_ext: str
    file_size: int
    file_mtime: float
    document_loader_name: str
    text_splitter_name: str
    file_version: int
    docs_count: int
    custom_docs: bool
    in_folder: bool
    in_db: bool = True
    created_at: Any = None
    doc_ids: list[str] = field(default_factory=list)


def summary(row: KnowledgeBase) -> KbSummary:
    return KbSummary(
        row.kb_name,
        row.kb_info,
        row.vs_type,
        row.embed_model,
        row.hybrid,
        row.file_count,
        row.created_at,
        row.store_key,
        row.id,
        row.rerank,
    )


def summary_collection_of(kb: KbSummary | KnowledgeBase, paths: KbPaths) -> Collection:
    """Where the KB's file summaries live: a key of its own, derived so it never meets the chunks' one."""
    key = hashlib.md5(f"summary:{kb.store_key}".encode(), usedforsecurity=False).hexdigest()
    directory = paths.kb_dir(kb.kb_name) / "summary_store" / kb.embed_model if kb.vs_type == "faiss" else None
    return Collection(kb.vs_type, key, kb.embed_model, directory)


def collection_of(kb: KbSummary | KnowledgeBase, paths: KbPaths) -> Collection:
    directory = paths.vector_store_dir(kb.kb_name, kb.embed_model) if kb.vs_type == "faiss" else None
    return Collection(kb.vs_type, kb.store_key, kb.embed_model, directory)


async def kb_row(session: AsyncSession, name: str, *, for_update: bool = False) -> KnowledgeBase:
    check_kb_name(name)
    query = select(KnowledgeBase).where(KnowledgeBase.kb_name == name)
    if for_update:
        query = query.execution_options(populate_existing=True)
    row = await session.scalar(query)
    if row is None:
        raise KnowledgeBaseNotFound(f"knowledge base {name!r} does not exist")
    return row


async def kb_exists(session: AsyncSession, name: str) -> bool:
    return bool(await session.scalar(select(func.count()).where(KnowledgeBase.kb_name == name)))


async def all_kbs(session: AsyncSession) -> list[KnowledgeBase]:
    return list((await session.scalars(select(KnowledgeBase).order_by(KnowledgeBase.kb_name))).all())


async def file_row(session: AsyncSession, kb_id: int, file_name: str) -> KnowledgeFile | None:
    return await session.scalar(
        select(KnowledgeFile).where(KnowledgeFile.kb_id == kb_id, KnowledgeFile.file_name == file_name)
    )


async def required_file_row(session: AsyncSession, kb: KnowledgeBase, file_name: str) -> KnowledgeFile:
    row = await file_row(session, kb.id, file_name)
    if row is None:
        raise FileNotInKnowledgeBase(f"{file_name} is not in knowledge base {kb.kb_name!r}")
    return row


async def file_rows(session: AsyncSession, kb_id: int) -> list[KnowledgeFile]:
    return list(
        (
            await session.scalars(
                select(KnowledgeFile).where(KnowledgeFile.kb_id == kb_id).order_by(KnowledgeFile.file_name)
            )
        ).all()
    )


async def chunk_ids(session: AsyncSession, file_id: int) -> list[str]:
    return list((await session.scalars(select(FileDoc.doc_id).where(FileDoc.file_id == file_id))).all())


async def kb_chunk_ids(session: AsyncSession, kb_id: int) -> dict[str, str]:
    """chunk id -> file name, for every chunk the catalogue lists in a knowledge base."""
    rows = await session.execute(
        select(FileDoc.doc_id, KnowledgeFile.file_name)
        .join(KnowledgeFile, FileDoc.file_id == KnowledgeFile.id)
        .where(KnowledgeFile.kb_id == kb_id)
    )
    return {doc_id: name for doc_id, name in rows.all()}


async def forget_chunks(session: AsyncSession, file_id: int) -> None:
    await session.execute(delete(FileDoc).where(FileDoc.file_id == file_id))


async def refresh_file_count(session: AsyncSession, kb: KnowledgeBase) -> None:
    await session.flush()
    kb.file_count = (
        await session.scalar(
            select(func.count()).select_from(KnowledgeFile).where(KnowledgeFile.kb_id == kb.id)
        )
        or 0
    )


def file_summaries(rows: list[KnowledgeFile], content: Path) -> list[FileSummary]:
    """Files in the database and files only in the folder (Chatchat's KB page shows both)."""
    on_disk = set(relative_files(content))
    files = [
        FileSummary(
            r.file_name,
            r.file_ext,
            r.file_size,
            r.file_mtime,
            r.document_loader_name,
            r.text_splitter_name,
            r.file_version,
            r.docs_count,
            r.custom_docs,
            r.file_name in on_disk,
            True,
            r.created_at,
        )
        for r in rows
    ]
    known = {r.file_name for r in rows}
    for name in sorted(on_disk - known):
        stat = (content / name).stat()
        files.append(
            FileSummary(
                name, Path(name).suffix.lower(), stat.st_size, stat.st_mtime, "", "", 0, 0, False, True, False
            )
        )
    return files
