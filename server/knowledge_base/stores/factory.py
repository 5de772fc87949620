"""Stores by ``vs_type``, and the one store object per collection that a process keeps.

A collection is one knowledge base (or temporary upload) in one store, named by the
``store_key`` its row got at creation: a knowledge base dropped and created again under the same
name gets a new key, so nothing derived from the old one can be found through the new one.
The registry creates each store object under a lock, so two requests that arrive together
share one object instead of each loading their own and losing the other's writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from configs import Settings
from server.knowledge_base.embeddings import EmbeddingPool
from server.knowledge_base.errors import InvalidName
from server.knowledge_base.stores.base import VectorStore

if TYPE_CHECKING:
    from server.knowledge_base.stores.pgvector_reads import PgVectorReads


@dataclass(frozen=True)
class Collection:
    """Where one knowledge base's chunks live."""

    vs_type: str
    store_key: str
    embed_model: str
    directory: Path | None  # the folder of file-based stores (FAISS), None for servers


StoreMaker = Callable[["StoreContext", Collection], VectorStore]


@dataclass
class StoreContext:
    """What stores may need from the backend: settings, the database, the embedders."""

    settings: Settings
    db: async_sessionmaker[AsyncSession]
    embeddings: EmbeddingPool
    # the warm read connections every pgvector store of this backend searches through
    pgvector_reads: PgVectorReads | None = field(default=None, init=False)

    @property
    def engine(self) -> AsyncEngine:
        bind = self.db.kw["bind"]
        assert isinstance(bind, AsyncEngine)
        return bind

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"


def _faiss(context: StoreContext, collection: Collection) -> VectorStore:
    from server.knowledge_base.stores.faiss_store import FaissStore

    return FaissStore(collection.directory, collection.store_key)


def _pgvector(context: StoreContext, collection: Collection) -> VectorStore:
    from server.knowledge_base.stores.pgvector_reads import PgVectorReads
    from server.knowledge_base.stores.pgvector_store import PgVectorStore

    pg = context.settings.kb.pgvector
    if context.pgvector_reads is None:  # makers run one at a time, under the registry's lock
        context.pgvector_reads = PgVectorReads(context.engine.url, ef_search=pg.hnsw_ef_search)
    return PgVectorStore(
        context.db,
        collection.store_key,
        ef_search=pg.hnsw_ef_search,
        hnsw_m=pg.hnsw_m,
        hnsw_ef_construction=pg.hnsw_ef_construction,
        hnsw_build_memory_mb=pg.hnsw_build_memory_mb,
        reads=context.pgvector_reads,
    )


def _langchain(context: StoreContext, collection: Collection) -> VectorStore:
    from server.knowledge_base.stores.langchain_store import LangChainStore

    return LangChainStore.from_settings(context, collection)


MAKERS: dict[str, StoreMaker] = {"faiss": _faiss, "pgvector": _pgvector, "langchain": _langchain}


def available_vs_types(context: StoreContext) -> list[str]:
    """The stores this backend can offer with its settings and database."""
    types = ["faiss"]
    if context.is_postgres:
        types.append("pgvector")
    if context.settings.kb.langchain.class_path:
        types.append("langchain")
    return types


def check_vs_type(context: StoreContext, vs_type: str) -> str:
    available = available_vs_types(context)
    if vs_type not in available:
        why = " (pgvector needs database_url to be PostgreSQL)" if vs_type == "pgvector" else ""
        if vs_type == "langchain":
            why = " (set kb.langchain.class_path to a LangChain VectorStore class)"
        raise InvalidName(
            f"vector store {vs_type!r} is not available{why}; available: {', '.join(available)}"
        )
    return vs_type


def default_vs_type(context: StoreContext) -> str:
    """``auto``: pgvector in the app's own PostgreSQL, FAISS with SQLite."""
    configured = context.settings.kb.default_vs_type
    if configured == "auto":
        return "pgvector" if context.is_postgres else "faiss"
    return configured


class StoreRegistry:
    """The store object of each collection in this process; created once, under a lock."""

    def __init__(self, context: StoreContext) -> None:
        self.context = context
        self._stores: dict[tuple[str, str, str], VectorStore] = {}
        self._lock = asyncio.Lock()

    @staticmethod
    def _key(collection: Collection) -> tuple[str, str, str]:
        return (collection.vs_type, collection.store_key, collection.embed_model)

    async def get(self, collection: Collection) -> VectorStore:
        key = self._key(collection)
        store = self._stores.get(key)
        if store is not None:
            return store
        async with self._lock:
            store = self._stores.get(key)
            if store is None:
                maker = MAKERS[collection.vs_type]
                store = await asyncio.to_thread(maker, self.context, collection)
                self._stores[key] = store
            return store

    async def forget(self, collection: Collection) -> VectorStore | None:
        """Take a collection's object out of the registry (it was dropped or replaced)."""
        async with self._lock:
            store = self._stores.pop(self._key(collection), None)
        if store is not None:
            await store.close()
        return store

    async def close(self) -> None:
        async with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            await store.close()
        if self.context.pgvector_reads is not None:
            await self.context.pgvector_reads.close()
