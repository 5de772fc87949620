"""KB summaries (Chatchat's ``kb_summary_api``): one summary per file, kept as their own index.

A knowledge base's summaries live in a collection of their own beside its chunks (same vector
store, same embedder), so "which file is about X" can be searched without the chunks competing.
Each file has at most one summary, with a fixed id, so summarising a file again replaces it.
The summaries are written by the API layer (it owns the chat model); this module stores,
lists and searches them, and reads the chunks a summary is made from.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from server.knowledge_base.bm25_index import tokenize
from server.knowledge_base.catalog import KbSummary, summary_collection_of
from server.knowledge_base.service import KnowledgeBaseService
from server.knowledge_base.stores.base import ChunkFilter, ChunkIn, ScoredChunk, StoredChunk, VectorStore


def summary_id(kb: KbSummary, file_name: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{kb.store_key}/{file_name}").hex


class SummaryIndex:
    def __init__(self, service: KnowledgeBaseService) -> None:
        self._kbs = service

    async def _store(self, kb: KbSummary) -> VectorStore:
        return await self._kbs.stores.get(summary_collection_of(kb, self._kbs.paths))

    async def file_chunks(self, kb_name: str, file_name: str) -> list[StoredChunk]:
        """The file's chunks in text order (what its summary is made from)."""
        kb = await self._kbs.get(kb_name)
        store = await self._kbs.store(kb)
        chunks: list[StoredChunk] = []
        async for page in store.iterate(where=ChunkFilter(files=frozenset({file_name}))):
            chunks += page
        return sorted(chunks, key=lambda c: (c.metadata.get("start") or 0, c.id))

    async def chunks(self, kb_name: str, ids: list[str]) -> list[StoredChunk]:
        store = await self._kbs.store(await self._kbs.get(kb_name))
        return await store.get(ids)

    async def put(self, kb_name: str, file_name: str, text: str, meta: dict[str, Any]) -> str:
        """Store (or replace) the file's summary; returns its id."""
        kb = await self._kbs.get(kb_name)
        store = await self._store(kb)
        vector = await self._kbs.embeddings.aembed_documents(kb.embed_model, [text])
        tokens = await asyncio.to_thread(tokenize, text)
        chunk = ChunkIn(
            summary_id(kb, file_name), text, {**meta, "source": file_name, "summary": True}, vector[0], tokens
        )
        async with self._kbs.db() as session:
            undo = await store.write(session, upsert=[chunk])
            try:
                await session.commit()
            except BaseException:
                await undo()
                raise
        return chunk.id

    async def clear(self, kb_name: str) -> None:
        kb = await self._kbs.get(kb_name)
        store = await self._store(kb)
        async with self._kbs.db() as session:
            if store.capabilities.transactional:
                await store.drop(session)
            await session.commit()
        await self._kbs.stores.forget(summary_collection_of(kb, self._kbs.paths))
        if not store.capabilities.transactional:
            await store.drop()

    async def count(self, kb_name: str) -> int:
        return await (await self._store(await self._kbs.get(kb_name))).count()

    async def search(self, kb_name: str, query: str, top_k: int) -> list[ScoredChunk]:
        kb = await self._kbs.get(kb_name)
        store = await self._store(kb)
        vector = await self._kbs.embeddings.aembed_query(kb.embed_model, query)
        return await store.search(vector, top_k)
