"""Temporary knowledge bases for file chat: uploaded files indexed under an id.

Each is a row in the database and a collection in the default vector store, so any backend
process answers from it and it survives a restart; its files live in ``<data_dir>/temp/<id>``
(shared storage when several backends serve one site). Each expires after ``kb.temp_expiry_s``
without use; at most ``kb.temp_max_kbs`` are kept (the least recently used goes first) and each
holds at most ``kb.temp_max_mb`` of files.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs import Settings
from server.db.base import utcnow
from server.db.models.knowledge_base import TempKnowledgeBase
from server.knowledge_base.bm25_index import tokenize
from server.knowledge_base.embeddings import EmbeddingPool
from server.knowledge_base.errors import KnowledgeBaseNotFound, LoaderError, PayloadTooLarge
from server.knowledge_base.ingest import SplitOptions, embed_chunks, prepare_chunks, to_chunks_in
from server.knowledge_base.locks import WriteLocks
from server.knowledge_base.paths import KbPaths, safe_file_name
from server.knowledge_base.retrieval import SearchHit, search
from server.knowledge_base.stores.base import ChunkIn, VectorStore
from server.knowledge_base.stores.factory import Collection, StoreRegistry, default_vs_type
from server.knowledge_base.uploads import write_atomically

LOCK_PREFIX = "temp:"


class TempKnowledgeBases:
    def __init__(
        self,
        settings: Settings,
        db: async_sessionmaker[AsyncSession],
        embeddings: EmbeddingPool,
        stores: StoreRegistry,
    ) -> None:
        self.settings = settings
        self.db = db
        self.embeddings = embeddings
        self.stores = stores
        self.paths = KbPaths(settings.data_dir)
        self.locks = WriteLocks(self.paths.lock_dir)

    def _collection(self, row: TempKnowledgeBase) -> Collection:
        directory = self.paths.temp_dir(row.id) / "vector_store" if row.vs_type == "faiss" else None
        return Collection(row.vs_type, row.id, row.embed_model, directory)

    async def _drop(self, session: AsyncSession, row: TempKnowledgeBase) -> None:
        """Forget one temporary KB: its row, its chunks and its files (the caller commits)."""
        collection = self._collection(row)
        store = await self.stores.get(collection)
        await session.delete(row)
        await store.drop(session if store.capabilities.transactional else None)
        await self.stores.forget(collection)
        await asyncio.to_thread(shutil.rmtree, self.paths.temp_dir(row.id), True)

    async def expire(self) -> int:
        """Drop the expired and the least recently used beyond the limit; returns how many went."""
        kb = self.settings.kb
        async with self.db() as session, self.locks.hold(LOCK_PREFIX + "expiry", session):
            cutoff = utcnow() - timedelta(seconds=kb.temp_expiry_s)
            rows = list(
                (await session.scalars(select(TempKnowledgeBase).order_by(TempKnowledgeBase.used_at))).all()
            )
            expired = [r for r in rows if r.used_at < cutoff]
            alive = [r for r in rows if r.used_at >= cutoff]
            expired += alive[: max(0, len(alive) - kb.temp_max_kbs)]
            for row in expired:
                await self._drop(session, row)
            await session.commit()
        return len(expired)

    async def clear(self) -> int:
        """Forget every file-chat upload (rows, chunks and files); returns how many went."""
        async with self.db() as session, self.locks.hold(LOCK_PREFIX + "expiry", session):
            rows = list((await session.scalars(select(TempKnowledgeBase))).all())
            for row in rows:
                await self._drop(session, row)
            await session.commit()
        return len(rows)

    async def _row(self, session: AsyncSession, kb_id: str) -> TempKnowledgeBase:
        self.paths.temp_dir(kb_id)  # validates the id
        row = await session.get(TempKnowledgeBase, kb_id)
        cutoff = utcnow() - timedelta(seconds=self.settings.kb.temp_expiry_s)
        if row is None or row.used_at < cutoff:
            raise KnowledgeBaseNotFound(f"temporary knowledge {kb_id!r} does not exist or has expired")
        return row

    async def _touch(self, kb_id: str) -> TempKnowledgeBase:
        try:
            async with self.db() as session:
                row = await self._row(session, kb_id)
                row.used_at = utcnow()
                await session.commit()
                return row
        except KnowledgeBaseNotFound:
            await self.expire()  # an expired upload asked for goes now, files and all
            raise

    async def get(self, kb_id: str) -> TempKnowledgeBase:
        """One upload's row (its files, size, last use); asking for it is a use."""
        return await self._touch(kb_id)

    async def add(
        self, files: list[tuple[str, bytes]], options: SplitOptions, prev_id: str | None = None
    ) -> tuple[str, dict[str, str]]:
        """Index the uploads into a new temporary KB (or ``prev_id``'s); returns its id and failures."""
        names = [safe_file_name(name) for name, _ in files]
        limit = int(self.settings.kb.temp_max_mb * 1024 * 1024)
        incoming = sum(len(data) for _, data in files)
        if prev_id:
            kb = await self._touch(prev_id)
        else:
            kb = TempKnowledgeBase(
                id=uuid.uuid4().hex,
                vs_type=default_vs_type(self.stores.context),
                embed_model=self.settings.default_embed_model,
                size=0,
                files=[],
            )
        if kb.size + incoming > limit:
            raise PayloadTooLarge(
                f"the files of one file chat may hold at most {self.settings.kb.temp_max_mb:g} MB"
            )
        directory = self.paths.temp_dir(kb.id)
        failed: dict[str, str] = {}
        chunks: list[ChunkIn] = []
        added: list[tuple[str, int]] = []
        written: list[Path] = []
        try:
            for name, (_, data) in zip(names, files, strict=True):
                path = self.paths.temp_file_path(kb.id, name)
                await asyncio.to_thread(write_atomically, path, data)
                written.append(path)
                watch = options.file_watch(name)
                try:
                    pieces, _, _ = await asyncio.to_thread(prepare_chunks, path, name, options, None, watch)
                    vectors = await embed_chunks(self.embeddings, kb.embed_model, pieces, watch)
                except LoaderError as exc:
                    failed[name] = str(exc)
                    watch.note(phase="failed", error=str(exc))
                    path.unlink(missing_ok=True)
                    continue
                chunks += await asyncio.to_thread(to_chunks_in, name, pieces, vectors)
                added.append((name, len(data)))
        except BaseException:  # cancelled: the files of this call leave nothing behind
            for path in written:
                path.unlink(missing_ok=True)
            raise
        await self._write(kb, chunks, added, limit, new=prev_id is None)
        if prev_id is None:
            await self.expire()
        directory.mkdir(parents=True, exist_ok=True)
        return kb.id, failed

    async def _write(
        self,
        kb: TempKnowledgeBase,
        chunks: list[ChunkIn],
        added: list[tuple[str, int]],
        limit: int,
        *,
        new: bool,
    ) -> None:
        async with self.db() as session, self.locks.hold(LOCK_PREFIX + kb.id, session):
            row = kb if new else await self._row(session, kb.id)
            if new:
                session.add(row)
            size = row.size + sum(n for _, n in added)
            if size > limit:
                raise PayloadTooLarge(
                    f"the files of one file chat may hold at most {self.settings.kb.temp_max_mb:g} MB"
                )
            row.size = size
            row.files = [*row.files, *(name for name, _ in added if name not in row.files)]
            row.used_at = utcnow()
            await session.flush()
            store = await self.stores.get(self._collection(row))
            undo = await store.write(session, upsert=chunks)
            try:
                await session.commit()
            except BaseException:
                await undo()
                raise

    async def store(self, kb_id: str) -> tuple[TempKnowledgeBase, VectorStore]:
        row = await self._touch(kb_id)
        return row, await self.stores.get(self._collection(row))

    async def search(
        self, kb_id: str, query: str, *, top_k: int, score_threshold: float, min_relevance: float = 0.0
    ) -> list[SearchHit]:
        row, store = await self.store(kb_id)
        vector = await self.embeddings.aembed_query(row.embed_model, query)
        tokens = await asyncio.to_thread(tokenize, query)
        return await search(
            store, vector, tokens, top_k=top_k, score_threshold=score_threshold, min_relevance=min_relevance
        )

    async def file_path(self, kb_id: str, file_name: str) -> Path:
        await self._touch(kb_id)
        return self.paths.temp_file_path(kb_id, file_name)
