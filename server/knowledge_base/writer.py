"""The write path: catalogue rows, store chunks and content files change together or not at all.

Every write holds the knowledge base's write lock (see :mod:`locks`) and runs in one database
transaction: the rows are written, then the store's chunks (inside that transaction for a
transactional store; applied at once with an undo for the others), then a staged upload moves
into the content folder, then the commit. Any failure before the commit undoes the store and
the file move, so the catalogue, the store and the folder always agree. A crash between the
store write and the commit leaves only orphan chunks (their ids are new and listed nowhere),
which the consistency check finds and drops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.base import utcnow
from server.db.models.knowledge_base import FileDoc, KnowledgeBase, KnowledgeFile, new_store_key
from server.knowledge_base import catalog
from server.knowledge_base.catalog import collection_of
from server.knowledge_base.errors import InvalidName
from server.knowledge_base.ingest import PreparedFile
from server.knowledge_base.locks import WriteLocks
from server.knowledge_base.paths import KbPaths
from server.knowledge_base.stores.base import ChunkIn, Undo, VectorStore
from server.knowledge_base.stores.factory import StoreRegistry

logger = logging.getLogger(__name__)

TRASH_PREFIX = ".trash-"


class FileMoves:
    """Staged uploads moved into the content folder, with what they replaced, so they can go back."""

    def __init__(self, staging: Path) -> None:
        self.staging = staging
        self._done: list[tuple[Path, Path, Path | None]] = []  # (staged, target, backup of the old file)

    def move(self, staged: Path, target: Path) -> None:
        backup = None
        if target.exists():
            backup = self.staging / f"{uuid.uuid4().hex}.replaced"
            os.replace(target, backup)
        target.parent.mkdir(parents=True, exist_ok=True)  # a name with sub-folders (wiki/Home.MD)
        os.replace(staged, target)
        self._done.append((staged, target, backup))

    def undo(self) -> None:
        for staged, target, backup in reversed(self._done):
            os.replace(target, staged)
            if backup is not None:
                os.replace(backup, target)
        self._done.clear()

    def finish(self) -> None:
        for _, _, backup in self._done:
            if backup is not None:
                backup.unlink(missing_ok=True)


class KbWriter:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        stores: StoreRegistry,
        locks: WriteLocks,
        paths: KbPaths,
    ) -> None:
        self.db = db
        self.stores = stores
        self.locks = locks
        self.paths = paths

    async def store_of(self, kb: KnowledgeBase | catalog.KbSummary) -> VectorStore:
        return await self.stores.get(collection_of(kb, self.paths))

    async def _commit(self, session: AsyncSession, undo: Undo, moves: FileMoves | None = None) -> None:
        try:
            await session.commit()
        except BaseException:
            await session.rollback()
            if moves is not None:
                await asyncio.to_thread(moves.undo)
            await undo()
            raise
        if moves is not None:
            await asyncio.to_thread(moves.finish)

    # ---- files ----------------------------------------------------------------------------

    async def write_files(self, kb_name: str, prepared: list[PreparedFile]) -> None:
        """Add or replace the chunks of prepared files; staged sources move into the content folder."""
        moves = FileMoves(self.paths.staging_dir(kb_name))
        async with self.db() as session, self.locks.hold(kb_name, session):
            kb = await catalog.kb_row(session, kb_name, for_update=True)
            store = await self.store_of(kb)
            old_ids: list[str] = []
            upsert: list[ChunkIn] = []
            for item in prepared:
                row = await catalog.file_row(session, kb.id, item.name)
                if row is not None:
                    old_ids += await catalog.chunk_ids(session, row.id)
                    await catalog.forget_chunks(session, row.id)
                    row.file_version += 1
                else:
                    row = KnowledgeFile(kb_id=kb.id, file_name=item.name, file_version=1)
                    session.add(row)
                row.file_ext = Path(item.name).suffix.lower()
                row.document_loader_name = item.loader
                row.text_splitter_name = item.splitter
                row.file_mtime, row.file_size = item.mtime, item.size
                row.custom_docs = item.custom
                row.docs_count = len(item.chunks)
                row.created_at = row.created_at or utcnow()
                await session.flush()
                session.add_all(FileDoc(file_id=row.id, doc_id=c.id, meta=c.metadata) for c in item.chunks)
                upsert += item.chunks
            await catalog.refresh_file_count(session, kb)
            await session.flush()
            undo = await store.write(session, delete=old_ids, upsert=upsert)
            try:
                for item in prepared:
                    target = self.paths.file_path(kb_name, item.name)
                    if item.source is not None and item.source != target:
                        await asyncio.to_thread(moves.move, item.source, target)
            except BaseException:
                await asyncio.to_thread(moves.undo)
                await undo()
                raise
            await self._commit(session, undo, moves)

    async def delete_files(
        self, kb_name: str, file_names: list[str], *, delete_content: bool
    ) -> dict[str, str]:
        failed: dict[str, str] = {}
        remove: list[Path] = []
        async with self.db() as session, self.locks.hold(kb_name, session):
            kb = await catalog.kb_row(session, kb_name, for_update=True)
            store = await self.store_of(kb)
            ids: list[str] = []
            for name in file_names:
                try:
                    path = self.paths.file_path(kb_name, name)
                except InvalidName as exc:
                    failed[name] = str(exc)
                    continue
                row = await catalog.file_row(session, kb.id, name)
                if row is None and not (delete_content and path.is_file()):
                    failed[name] = f"{name} is not in knowledge base {kb_name!r}"
                    continue
                if row is not None:
                    ids += await catalog.chunk_ids(session, row.id)
                    await session.delete(row)
                if delete_content:
                    remove.append(path)
            await catalog.refresh_file_count(session, kb)
            undo = await store.write(session, delete=ids)
            await self._commit(session, undo)
        for path in remove:  # after the commit: a failed delete never loses a listed file's content
            path.unlink(missing_ok=True)
        return failed

    async def replace_chunks(
        self,
        kb_name: str,
        ids: list[str],
        make: Callable[[VectorStore, list[str]], Awaitable[tuple[list[ChunkIn], list[str]]]],
    ) -> list[str]:
        """Replace single chunks in place; ``make`` builds the new chunks from the stored ones.

        Returns the ids that were not found.
        """
        async with self.db() as session, self.locks.hold(kb_name, session):
            kb = await catalog.kb_row(session, kb_name, for_update=True)
            store = await self.store_of(kb)
            chunks, missing = await make(store, ids)
            if not chunks:
                return missing
            metas: dict[str, dict[str, Any]] = {c.id: c.metadata for c in chunks}
            rows = await session.scalars(
                select(FileDoc)
                .join(KnowledgeFile, FileDoc.file_id == KnowledgeFile.id)
                .where(KnowledgeFile.kb_id == kb.id, FileDoc.doc_id.in_(list(metas)))
            )
            for doc in rows:
                doc.meta = metas[doc.doc_id]
            undo = await store.write(session, upsert=chunks)
            await self._commit(session, undo)
            return missing

    # ---- whole knowledge bases ------------------------------------------------------------

    async def drop(self, kb_name: str) -> None:
        """Delete the knowledge base's rows, its store collection, and its folder."""
        async with self.db() as session, self.locks.hold(kb_name, session):
            kb = await catalog.kb_row(session, kb_name, for_update=True)
            collections = [collection_of(kb, self.paths), catalog.summary_collection_of(kb, self.paths)]
            stores = [await self.stores.get(c) for c in collections]  # the chunks and the file summaries
            await session.delete(kb)
            for store in stores:
                if store.capabilities.transactional:
                    await store.drop(session)
            await session.commit()
            for collection, store in zip(collections, stores, strict=True):
                await self.stores.forget(collection)
                if not store.capabilities.transactional:
                    await store.drop()
            await asyncio.to_thread(self._remove_folder, kb_name)

    def _remove_folder(self, kb_name: str) -> None:
        folder = self.paths.kb_dir(kb_name)
        if not folder.exists():
            return
        trash = folder.with_name(f"{TRASH_PREFIX}{kb_name}-{uuid.uuid4().hex}")
        os.replace(folder, trash)  # the name is free at once; the files go after
        shutil.rmtree(trash, ignore_errors=True)

    async def reset(
        self, kb_name: str, *, embed_model: str | None = None, vs_type: str | None = None
    ) -> None:
        """Start the knowledge base's collection afresh (a rebuild): no files, a new store key."""
        async with self.db() as session, self.locks.hold(kb_name, session):
            kb = await catalog.kb_row(session, kb_name, for_update=True)
            old = collection_of(kb, self.paths)
            old_store = await self.stores.get(old)
            for row in await catalog.file_rows(session, kb.id):
                await session.delete(row)
            if embed_model:
                kb.embed_model = embed_model
            if vs_type:
                kb.vs_type = vs_type
            kb.store_key = new_store_key()
            kb.file_count = 0
            if old_store.capabilities.transactional:
                await old_store.drop(session)
            await session.commit()
        await self.stores.forget(old)
        if not old_store.capabilities.transactional:
            await old_store.drop()
