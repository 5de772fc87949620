"""Any LangChain ``VectorStore`` as a knowledge-base store (``vs_type: langchain``).

The class and its constructor arguments come from settings (``kb.langchain``), so a knowledge
base can live in Milvus, Elasticsearch, Qdrant, Chroma or any partner package without code;
each knowledge base gets a collection of its own. The interface is ``langchain_core``'s:
``add_texts`` / ``get_by_ids`` / ``delete`` / ``similarity_search_with_score``, with our
embedder as the store's ``Embeddings``, always handed the vectors we computed.

Metadata is kept whole as JSON under ``_meta`` (stores accept only flat scalar values) with the
scalar keys beside it for filtering. Filters are passed as operator dicts (``$and``, ``$in``,
equality), the syntax of Chroma and of several other stores; ``filter_syntax: none`` filters
after the search instead. Scores are converted to the score contract as ``distance`` says.
The store is not transactional: writes apply at once and are undone (deleted chunks are added
back, re-embedded from their text) if the catalogue's commit fails.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore as LangChainVectorStore
from sqlalchemy.ext.asyncio import AsyncSession

from configs.settings import LangChainStoreSettings
from server.knowledge_base.errors import StoreUnavailable
from server.knowledge_base.lc_embeddings import GivenVectors, PoolEmbeddings
from server.knowledge_base.stores.base import (
    ChunkFilter,
    ChunkIn,
    ScoredChunk,
    StoreCapabilities,
    StoredChunk,
    Undo,
    VectorStore,
)

META_KEY = "_meta"
_SCALARS = (str, int, float, bool)
OVERFETCH = 4  # a filter the store cannot apply: ask for this many times more, then filter


def import_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise StoreUnavailable(f"kb.langchain.class_path {path!r} cannot be imported: {exc}") from exc


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


def encode_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in metadata.items() if isinstance(v, _SCALARS) and not k.startswith("_")}
    flat[META_KEY] = json.dumps(metadata, ensure_ascii=False)
    return flat


def decode_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    metadata = dict(metadata or {})
    encoded = metadata.pop(META_KEY, None)
    return json.loads(encoded) if isinstance(encoded, str) else metadata


def to_distance(score: float, kind: str) -> float:
    """The store's score as 1 - cosine (vectors are unit length, so every metric converts)."""
    if kind == "l2":
        return score * score / 2.0
    if kind == "squared_l2":
        return score / 2.0
    if kind == "similarity":
        return 1.0 - score
    return score


class LangChainStore(VectorStore):
    vs_type = "langchain"
    capabilities = StoreCapabilities()

    def __init__(
        self, store: LangChainVectorStore, embeddings: GivenVectors, settings: LangChainStoreSettings
    ) -> None:
        self._store = store
        self._embeddings = embeddings
        self._settings = settings
        self._lock = threading.Lock()  # the given vectors belong to one write at a time
        lists = callable(getattr(store, "get", None)) and "limit" in _parameters(store.get)
        self.capabilities = StoreCapabilities(listing=lists)

    @classmethod
    def from_settings(cls, context: Any, collection: Any) -> LangChainStore:
        config: LangChainStoreSettings = context.settings.kb.langchain
        if not config.class_path:
            raise StoreUnavailable("vs_type langchain needs kb.langchain.class_path")
        store_class = import_class(config.class_path)
        names = {"data_dir": str(context.settings.data_dir), "collection": f"kb_{collection.store_key}"}
        kwargs = _fill(dict(config.kwargs), names)
        if config.collection_arg:
            kwargs[config.collection_arg] = names["collection"]
        embeddings = GivenVectors(PoolEmbeddings(context.embeddings, collection.embed_model))
        kwargs[config.embedding_arg] = embeddings
        return cls(store_class(**kwargs), embeddings, config)

    # ---- helpers --------------------------------------------------------------------------

    def _filter(self, where: ChunkFilter | None) -> tuple[dict[str, Any] | None, bool]:
        """(the store's filter, whether results must still be filtered here)."""
        if where is None or where.empty:
            return None, False
        if self._settings.filter_syntax == "none":
            return None, True
        parts: list[dict[str, Any]] = [{k: v} for k, v in where.metadata.items() if isinstance(v, _SCALARS)]
        if where.files is not None:
            parts.append({"source": {"$in": sorted(where.files)}})
        exact = len(parts) == len(where.metadata) + (where.files is not None) and not where.file_name
        if not parts:
            return None, True
        return (parts[0] if len(parts) == 1 else {"$and": parts}), not exact

    def _documents(self, ids: Sequence[str]) -> list[Document]:
        return list(self._store.get_by_ids(list(ids))) if ids else []

    def _write(self, delete: list[str], upsert: list[ChunkIn]) -> list[Document]:
        with self._lock:
            gone = list(dict.fromkeys([*delete, *(c.id for c in upsert)]))
            old = self._documents(gone)
            if old:
                self._store.delete(ids=[d.id for d in old])
            try:
                if upsert:
                    texts = [c.text for c in upsert]
                    with self._embeddings.given(texts, [c.vector for c in upsert]):
                        self._store.add_texts(
                            texts,
                            metadatas=[encode_metadata(c.metadata) for c in upsert],
                            ids=[c.id for c in upsert],
                        )
            except BaseException:
                self._restore(old)
                raise
            return old

    def _restore(self, old: list[Document]) -> None:
        if old:
            self._store.add_texts(
                [d.page_content for d in old],
                metadatas=[d.metadata for d in old],
                ids=[str(d.id) for d in old],
            )

    def _undo(self, added: list[str], old: list[Document]) -> None:
        with self._lock:
            if added:
                self._store.delete(ids=added)
            self._restore(old)

    # ---- VectorStore ----------------------------------------------------------------------

    async def write(
        self,
        session: AsyncSession | None = None,
        *,
        delete: Sequence[str] = (),
        upsert: Sequence[ChunkIn] = (),
    ) -> Undo:
        old = await asyncio.to_thread(self._write, list(delete), list(upsert))
        added = [c.id for c in upsert]

        async def undo() -> None:
            await asyncio.to_thread(self._undo, added, old)

        return undo

    async def get(self, ids: Sequence[str]) -> list[StoredChunk]:
        docs = await asyncio.to_thread(self._documents, ids)
        found = {str(d.id): StoredChunk(str(d.id), d.page_content, decode_metadata(d.metadata)) for d in docs}
        return [found[i] for i in ids if i in found]

    def _search(self, vector: np.ndarray, k: int, where: ChunkFilter | None) -> list[ScoredChunk]:
        store_filter, filter_here = self._filter(where)
        probe = f"\x00query-{uuid.uuid4().hex}"  # embedded through the given vector, never a model
        want = k * OVERFETCH if filter_here else k
        while True:
            kwargs = {"filter": store_filter} if store_filter is not None else {}
            with self._embeddings.given([probe], [vector]):
                found = self._store.similarity_search_with_score(probe, k=want, **kwargs)
            hits = []
            for doc, score in found:
                metadata = decode_metadata(doc.metadata)
                if where is not None and filter_here and not where.matches(metadata):
                    continue
                distance = to_distance(float(score), self._settings.distance)
                hits.append(ScoredChunk(str(doc.id), doc.page_content, metadata, distance, None, ["vector"]))
            if len(hits) >= k or len(found) < want:
                return hits[:k]
            want *= OVERFETCH

    async def search(
        self, vector: np.ndarray, k: int, *, where: ChunkFilter | None = None
    ) -> list[ScoredChunk]:
        if k <= 0:
            return []
        return await asyncio.to_thread(self._search, vector, k, where)

    async def distances(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        chunks = await self.get(ids)
        vectors = await self._embeddings.fallback.aembed_documents([c.text for c in chunks])
        query = np.asarray(vector, dtype=np.float32)
        return {c.id: 1.0 - float(np.dot(np.asarray(v), query)) for c, v in zip(chunks, vectors, strict=True)}

    async def iterate(
        self, *, where: ChunkFilter | None = None, page_size: int = 1000, vectors: bool = False
    ) -> AsyncIterator[list[StoredChunk]]:
        if not self.capabilities.listing:
            raise NotImplementedError(f"{type(self._store).__name__} cannot list its chunks")
        offset = 0
        while True:
            page = await asyncio.to_thread(self._store.get, limit=page_size, offset=offset)
            ids = page.get("ids") or []
            if not ids:
                return
            chunks = [
                StoredChunk(str(i), text or "", decode_metadata(meta))
                for i, text, meta in zip(
                    ids, page.get("documents") or [], page.get("metadatas") or [], strict=False
                )
            ]
            chunks = [c for c in chunks if where is None or where.matches(c.metadata)]
            if vectors and chunks:
                computed = await self._embeddings.fallback.aembed_documents([c.text for c in chunks])
                for chunk, vector in zip(chunks, computed, strict=True):
                    chunk.vector = np.asarray(vector, dtype=np.float32)
            if chunks:
                yield chunks
            offset += len(ids)

    async def count(self) -> int:
        total = 0
        async for page in self.iterate():
            total += len(page)
        return total

    async def drop(self, session: AsyncSession | None = None) -> None:
        def drop() -> None:
            remove = getattr(self._store, "delete_collection", None)
            if callable(remove):
                remove()

        await asyncio.to_thread(drop)


def _parameters(function: Any) -> set[str]:
    import inspect

    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return set()


__all__ = ["LangChainStore", "import_class"]
