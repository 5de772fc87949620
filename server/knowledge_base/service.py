"""The knowledge-base service: the one seam the API, the CLI and the chat use.

The catalogue (knowledge bases, files, the chunk ids of each file) lives in the database, the
chunks in the knowledge base's vector store (``vs_type``), the files in its content folder.
This class only composes the parts, each in a module of its own: :mod:`catalog` (rows),
:mod:`ingest` (read, split, embed), :mod:`writer` (the write path and its locks),
:mod:`retrieval` (search) and :mod:`stores` (the store seam and its implementations).
Parsing and embedding happen before the write lock is taken, so two uploads into one KB
overlap their slow parts and lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs import Settings
from server.db.models.knowledge_base import FileDoc, KnowledgeBase, KnowledgeFile
from server.knowledge_base import catalog, uploads
from server.knowledge_base.bm25_index import tokenize
from server.knowledge_base.catalog import FileSummary, KbSummary, collection_of
from server.knowledge_base.embeddings import EmbeddingPool
from server.knowledge_base.errors import Conflict, InvalidName
from server.knowledge_base.ingest import PreparedFile, SplitOptions, prepare_files
from server.knowledge_base.locks import WriteLocks
from server.knowledge_base.paths import KbPaths, check_kb_name, relative_files
from server.knowledge_base.rerank import RerankerPool
from server.knowledge_base.rerank import rerank as rerank_hits
from server.knowledge_base.retrieval import SearchHit, merge_rankings, search
from server.knowledge_base.stores.base import ChunkFilter, ChunkIn, VectorStore
from server.knowledge_base.stores.factory import (
    StoreContext,
    StoreRegistry,
    available_vs_types,
    check_vs_type,
    default_vs_type,
)
from server.knowledge_base.writer import KbWriter

logger = logging.getLogger(__name__)

__all__ = ["FileSummary", "KbSummary", "KnowledgeBaseService", "PreparedFile", "SplitOptions"]


def wants_rerank(requested: bool | None, kbs: Collection[KbSummary], default: bool) -> bool:
    """The request's choice, else the KBs' own (any that reranks makes the search rerank), else kb.rerank."""
    if requested is not None:
        return requested
    chosen = [kb.rerank for kb in kbs if kb.rerank is not None]
    return any(chosen) if chosen else default


class KnowledgeBaseService:
    def __init__(
        self, settings: Settings, db: async_sessionmaker[AsyncSession], embeddings: EmbeddingPool
    ) -> None:
        self.settings = settings
        self.db = db
        self.embeddings = embeddings
        self.rerankers = RerankerPool(settings)
        self.paths = KbPaths(settings.data_dir)
        self.stores = StoreRegistry(StoreContext(settings, db, embeddings))
        self.writer = KbWriter(db, self.stores, WriteLocks(self.paths.lock_dir), self.paths)

    # ---- knowledge bases ------------------------------------------------------------------

    async def get(self, name: str) -> KbSummary:
        async with self.db() as session:
            return catalog.summary(await catalog.kb_row(session, name))

    async def exists(self, name: str) -> bool:
        async with self.db() as session:
            return await catalog.kb_exists(session, name)

    @property
    def vs_types(self) -> list[str]:
        return available_vs_types(self.stores.context)

    def check_vs_type(self, vs_type: str | None) -> str:
        return check_vs_type(self.stores.context, vs_type or default_vs_type(self.stores.context))

    async def create(
        self,
        name: str,
        *,
        vs_type: str | None = None,
        embed_model: str | None = None,
        info: str = "",
        hybrid: bool | None = None,
        rerank: bool | None = None,
    ) -> KbSummary:
        check_kb_name(name)
        if rerank:
            self.rerankers.get()  # reranking by default needs a default reranker (a clear 400 now)
        vs_type = self.check_vs_type(vs_type)
        embed_model = self.embeddings.check(embed_model or self.settings.default_embed_model)
        async with self.db() as session:
            if await catalog.kb_exists(session, name):
                raise Conflict(f"knowledge base {name!r} already exists")
            await asyncio.to_thread(self.paths.content_dir(name).mkdir, parents=True, exist_ok=True)
            row = KnowledgeBase(
                kb_name=name,
                kb_info=info,
                vs_type=vs_type,
                embed_model=embed_model,
                hybrid=self.settings.kb.hybrid if hybrid is None else hybrid,
                rerank=rerank,
                file_count=0,
            )
            session.add(row)
            try:
                await session.commit()
            except Exception as exc:  # another request or backend created it at the same moment
                await session.rollback()
                if await catalog.kb_exists(session, name):
                    raise Conflict(f"knowledge base {name!r} already exists") from exc
                raise
            return catalog.summary(row)

    async def drop(self, name: str) -> None:
        await self.writer.drop(name)

    async def update_info(
        self, name: str, info: str, hybrid: bool | None = None, rerank: bool | None = None
    ) -> KbSummary:
        if rerank:
            self.rerankers.get()  # reranking by default needs a default reranker (a clear 400 now)
        async with self.db() as session:
            row = await catalog.kb_row(session, name)
            row.kb_info = info
            if hybrid is not None:
                row.hybrid = hybrid
            if rerank is not None:
                row.rerank = rerank
            await session.commit()
            return catalog.summary(row)

    # ---- stores ---------------------------------------------------------------------------

    async def store(self, kb: KbSummary) -> VectorStore:
        """The one store object of the knowledge base's collection in this process."""
        return await self.stores.get(collection_of(kb, self.paths))

    async def wait_bm25(self, name: str) -> None:
        """Compatibility: keyword indexes are built by their stores when a search needs them."""

    # ---- files ----------------------------------------------------------------------------

    async def save_upload(self, kb_name: str, file_name: str, data: bytes, *, override: bool) -> bool:
        """Write a file into the KB's content folder without indexing it; False if it exists."""
        return await asyncio.to_thread(
            uploads.save_to_content, self.paths, kb_name, file_name, data, override=override
        )

    async def upload(
        self,
        kb_name: str,
        files: list[tuple[str, bytes]],
        options: SplitOptions,
        *,
        override: bool,
        custom_docs: dict[str, list[dict[str, Any]]] | None = None,
    ) -> dict[str, str]:
        """Stage, index and commit uploads; a file appears in the folder only once it is indexed."""
        await self.get(kb_name)
        failed: dict[str, str] = {}
        staged: list[tuple[str, Path]] = []
        for name, data in files:
            if not override and self.paths.file_path(kb_name, name).exists():
                failed[name] = f"{name} already exists; set override=true to replace it"
                continue
            staged.append((name, await asyncio.to_thread(uploads.stage, self.paths, kb_name, name, data)))
        try:
            failed.update(await self._index(kb_name, staged, options, custom_docs or {}))
        finally:
            for _, path in staged:  # indexed ones moved out; failed ones leave nothing behind
                await asyncio.to_thread(uploads.discard, path)
        return failed

    async def _index(
        self,
        kb_name: str,
        files: list[tuple[str, Path]],
        options: SplitOptions,
        custom_docs: dict[str, list[dict[str, Any]]],
    ) -> dict[str, str]:
        kb = await self.get(kb_name)
        failed: dict[str, str] = {}
        prepared = await prepare_files(self.embeddings, kb.embed_model, files, options, custom_docs, failed)
        if prepared:
            await self.writer.write_files(kb_name, prepared)
        return failed

    async def add_files(
        self,
        kb_name: str,
        file_names: list[str],
        options: SplitOptions,
        custom_docs: dict[str, list[dict[str, Any]]] | None = None,
        *,
        refresh: bool = True,
    ) -> dict[str, str]:
        """Index files already in the content folder (replacing their old chunks); returns failed files."""
        failed: dict[str, str] = {}
        files = []
        for name in file_names:
            try:
                files.append((name, self.paths.file_path(kb_name, name)))
            except InvalidName as exc:
                failed[name] = str(exc)
        failed.update(await self._index(kb_name, files, options, custom_docs or {}))
        return failed

    async def delete_files(
        self, kb_name: str, file_names: list[str], *, delete_content: bool, refresh: bool = True
    ) -> dict[str, str]:
        await self.get(kb_name)
        return await self.writer.delete_files(kb_name, file_names, delete_content=delete_content)

    async def list_files(self, kb_name: str) -> list[FileSummary]:
        """Files in the database and files only in the folder (Chatchat's KB page shows both)."""
        async with self.db() as session:
            kb = await catalog.kb_row(session, kb_name)
            rows = await catalog.file_rows(session, kb.id)
        return await asyncio.to_thread(catalog.file_summaries, rows, self.paths.content_dir(kb_name))

    async def file_doc_ids(self, kb_name: str, file_name: str) -> list[str]:
        async with self.db() as session:
            kb = await catalog.kb_row(session, kb_name)
            row = await catalog.required_file_row(session, kb, file_name)
            return await catalog.chunk_ids(session, row.id)

    async def custom_docs_of(self, kb_name: str, file_name: str) -> list[dict[str, Any]] | None:
        """The stored chunks of a file indexed from custom docs, to keep them on update."""
        async with self.db() as session:
            kb = await catalog.kb_row(session, kb_name)
            row = await catalog.file_row(session, kb.id, file_name)
            if row is None or not row.custom_docs:
                return None
            ids = await catalog.chunk_ids(session, row.id)
            summary = catalog.summary(kb)
        store = await self.store(summary)
        return [{"page_content": d.text, "metadata": d.metadata} for d in await store.get(ids)]

    async def update_files(
        self,
        kb_name: str,
        file_names: list[str],
        options: SplitOptions,
        *,
        override_custom_docs: bool,
        custom_docs: dict[str, list[dict[str, Any]]] | None,
        refresh: bool = True,
    ) -> dict[str, str]:
        """Re-read files from the folder and replace their chunks exactly."""
        docs: dict[str, list[dict[str, Any]]] = dict(custom_docs or {})
        failed: dict[str, str] = {}
        names = []
        for name in file_names:
            try:
                path = self.paths.file_path(kb_name, name)
            except InvalidName as exc:
                failed[name] = str(exc)
                continue
            if name not in docs and not override_custom_docs:
                kept = await self.custom_docs_of(kb_name, name)
                if kept:
                    docs[name] = kept
            if name not in docs and not path.is_file():
                failed[name] = f"{name} is not in knowledge base {kb_name!r}"
                continue
            names.append(name)
        failed.update(await self.add_files(kb_name, names, options, docs, refresh=refresh))
        return failed

    async def update_docs_by_id(self, kb_name: str, docs: dict[str, dict[str, Any]]) -> list[str]:
        """Replace single chunks (text and metadata) in place; returns the ids that were not found."""
        kb = await self.get(kb_name)

        async def make(store: VectorStore, ids: list[str]) -> tuple[list[ChunkIn], list[str]]:
            present = {d.id: d for d in await store.get(ids)}
            missing = [i for i in ids if i not in present]
            texts = {i: str(docs[i].get("page_content", "")) for i in ids if i in present}
            if not texts:
                return [], missing
            vectors = await self.embeddings.aembed_documents(kb.embed_model, list(texts.values()))
            chunks = []
            for (doc_id, text), vector in zip(texts.items(), vectors, strict=True):
                metadata = {**present[doc_id].metadata, **(docs[doc_id].get("metadata") or {})}
                metadata["source"] = present[doc_id].metadata.get("source")
                chunks.append(
                    ChunkIn(doc_id, text, metadata, vector, await asyncio.to_thread(tokenize, text))
                )
            return chunks, missing

        return await self.writer.replace_chunks(kb_name, list(docs), make)

    async def recreate(
        self,
        kb_name: str,
        options: SplitOptions,
        *,
        embed_model: str | None = None,
        allow_empty_kb: bool = True,
        vs_type: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Rebuild the KB's index from its content folder, one progress event per file."""
        await self.get(kb_name)
        if embed_model:
            self.embeddings.check(embed_model)
        if vs_type:
            self.check_vs_type(vs_type)
        content = self.paths.content_dir(kb_name)
        names = relative_files(content)
        if not names and not allow_empty_kb:
            yield {"code": 404, "msg": f"knowledge base {kb_name!r} has no files to index"}
            return
        await self.writer.reset(kb_name, embed_model=embed_model, vs_type=vs_type)
        for i, name in enumerate(names, start=1):
            failed = await self.add_files(kb_name, [name], options, refresh=False)
            event = {"total": len(names), "finished": i, "doc": name}
            if failed:
                yield {"code": 500, "msg": f"({i} / {len(names)}): {name}: {failed[name]}", **event}
            else:
                yield {"code": 200, "msg": f"({i} / {len(names)}): {name}", **event}

    # ---- search ---------------------------------------------------------------------------

    async def list_docs(
        self, kb_name: str, *, file_name: str | None = None, metadata: dict[str, Any] | None = None
    ) -> list[SearchHit]:
        """Every chunk of the KB that matches the filters (search_docs with an empty query)."""
        kb = await self.get(kb_name)
        store = await self.store(kb)
        where = ChunkFilter(file_name=file_name or None, metadata=metadata or {})
        hits: list[SearchHit] = []
        if store.capabilities.listing:
            async for page in store.iterate(where=where):
                hits += [SearchHit(d.id, d.text, d.metadata, 0.0) for d in page]
            return hits
        async with self.db() as session:  # a store that cannot list: the catalogue knows every id
            ids = [
                doc_id
                for doc_id, meta in (
                    await session.execute(
                        FileDoc.__table__.select()
                        .with_only_columns(FileDoc.doc_id, FileDoc.meta)
                        .join(KnowledgeFile, FileDoc.file_id == KnowledgeFile.id)
                        .where(KnowledgeFile.kb_id == kb.id)
                    )
                ).all()
                if where.matches(meta)
            ]
        for start in range(0, len(ids), 1000):
            hits += [
                SearchHit(d.id, d.text, d.metadata, 0.0) for d in await store.get(ids[start : start + 1000])
            ]
        return hits

    async def search(
        self,
        kb_name: str,
        query: str,
        *,
        top_k: int,
        score_threshold: float,
        file_name: str | None = None,
        metadata: dict[str, Any] | None = None,
        hybrid: bool | None = None,
        min_relevance: float | None = None,
        vector: np.ndarray | None = None,
    ) -> list[SearchHit]:
        """One KB's best chunks; ``vector`` is the query's embedding when the caller already has it."""
        kb = await self.get(kb_name)
        store = await self.store(kb)
        if vector is None:
            vector = await self.embeddings.aembed_query(kb.embed_model, query)
        use_keywords = kb.hybrid if hybrid is None else hybrid
        tokens = await asyncio.to_thread(tokenize, query) if use_keywords else []
        settings = self.settings.kb
        hits = await search(
            store,
            vector,
            tokens,
            top_k=top_k,
            score_threshold=score_threshold,
            where=ChunkFilter(file_name=file_name or None, metadata=metadata or {}),
            hybrid=use_keywords,
            fusion=settings.fusion,
            alpha=settings.fusion_alpha,
            min_relevance=settings.min_relevance if min_relevance is None else min_relevance,
        )
        for hit in hits:
            hit.kb = kb_name
        return hits

    async def search_many(
        self,
        kb_names: list[str],
        query: str,
        *,
        top_k: int,
        score_threshold: float,
        file_name: str | None = None,
        metadata: dict[str, Any] | None = None,
        hybrid: bool | None = None,
        min_relevance: float | None = None,
        rerank: bool | None = None,
        rerank_top_n: int | None = None,
        reranker: str | None = None,
    ) -> list[SearchHit]:
        """The best chunks of several KBs, merged by reciprocal rank (ties: higher relevance first),
        then reranked when asked (``rerank``, default ``kb.rerank``).

        The query is embedded once per embedding model, however many KBs share it. Each hit
        names its KB in ``kb``. With reranking, ``kb.rerank_candidates`` chunks go to the
        reranker and ``rerank_top_n`` (default ``top_k``) come back; ``min_relevance`` then
        bounds the reranker's score.
        """
        settings = self.settings.kb
        floor = settings.min_relevance if min_relevance is None else min_relevance
        names = list(dict.fromkeys(kb_names))
        kbs = [await self.get(name) for name in names]  # an unknown KB is a 404 before any work
        use_rerank = wants_rerank(rerank, kbs, settings.rerank)
        engine = self.rerankers.get(reranker) if use_rerank else None  # a bad name fails before any work
        vectors: dict[str, np.ndarray] = {}
        for model in dict.fromkeys(kb.embed_model for kb in kbs):
            vectors[model] = await self.embeddings.aembed_query(model, query)
        wanted = max(top_k, engine.config.candidates or settings.rerank_candidates) if engine else top_k
        rankings = [
            await self.search(
                kb.kb_name,
                query,
                top_k=wanted,
                score_threshold=score_threshold,
                file_name=file_name,
                metadata=metadata,
                hybrid=hybrid,
                min_relevance=0.0 if engine else floor,
                vector=vectors[kb.embed_model],
            )
            for kb in kbs
        ]
        merged = merge_rankings(rankings)[:wanted]
        if engine is None:
            return merged[:top_k]
        return await rerank_hits(engine, query, merged, top_n=rerank_top_n or top_k, min_relevance=floor)

    async def search_knowledge(
        self, query: str, top_k: int, kb_names: Collection[str] | None = None
    ) -> list[tuple[str, str]]:
        """``(kb/file, chunk)`` pairs from every knowledge base (or those in ``kb_names``), best first.

        The agent's tool: ``kb_names`` are the ones its caller may read.
        """
        names = [kb.kb_name for kb in await self.list() if kb_names is None or kb.kb_name in kb_names]
        if not names:
            return []
        hits = await self.search_many(
            names, query, top_k=top_k, score_threshold=self.settings.kb.score_threshold
        )
        return [(f"{hit.kb}/{hit.metadata.get('source', '')}", hit.text) for hit in hits]

    async def close(self) -> None:
        await self.stores.close()

    # Last in the class on purpose: below this line ``list`` in an annotation means this method.
    async def list(self) -> list[KbSummary]:
        async with self.db() as session:
            return [catalog.summary(r) for r in await catalog.all_kbs(session)]
