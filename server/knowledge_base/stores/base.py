"""The seam every vector store implements, and the one score contract they all keep.

Score contract: a store scores a chunk by its **distance** to the query vector, ``1 - cosine``
of the two L2-normalised vectors: 0 is identical, 1 unrelated, 2 opposite. It is what Chatchat
calls ``score`` on the wire (lower is closer) and what ``score_threshold`` bounds. A store whose
engine measures something else (an L2 distance, a similarity) converts before returning. Keyword
ranks are never mixed into ``score``: hybrid search orders by reciprocal-rank fusion and still
reports each hit's vector distance.

Chunk ids are chosen by the caller (globally unique, never reused) and stay the same in every
store, so moving a knowledge base between stores keeps the ids its database rows point to.

Writes go through :meth:`VectorStore.write`, called inside the database transaction that
records the same change in the catalogue. A *transactional* store writes into that
transaction; any other store applies the change at once and returns how to undo it, which the
caller runs if the commit fails, so every failure leaves store and database agreeing.
"""

from __future__ import annotations

import fnmatch
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

Undo = Callable[[], Awaitable[None]]


async def nothing_to_undo() -> None:
    """The undo of a transactional write: the database rollback already took it back."""


def like_to_glob(pattern: str) -> str:
    """Chatchat's ``file_name`` filter is an SQL LIKE pattern ('%' any run, '_' one character)."""
    return (
        pattern.replace("[", "[[]")
        .replace("*", "[*]")
        .replace("?", "[?]")
        .replace("%", "*")
        .replace("_", "?")
    )


@dataclass(frozen=True)
class ChunkFilter:
    """Which chunks a search or a listing may return; stores apply it themselves (pushed down).

    ``file_name`` is an SQL LIKE pattern over the chunk's ``source``; ``files`` an exact set of
    sources; ``metadata`` requires each key to equal its value. All given parts must hold.
    """

    file_name: str | None = None
    files: frozenset[str] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.file_name and self.files is None and not self.metadata

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        """The reference meaning of the filter (stores that filter in memory use it as is)."""
        source = str(metadata.get("source", ""))
        if self.file_name and not fnmatch.fnmatchcase(source, like_to_glob(self.file_name)):
            return False
        if self.files is not None and source not in self.files:
            return False
        return all(metadata.get(key) == value for key, value in self.metadata.items())


@dataclass
class ChunkIn:
    """A chunk to store: its id, text, metadata (``source`` = file name), vector and keyword tokens."""

    id: str
    text: str
    metadata: dict[str, Any]
    vector: np.ndarray
    tokens: list[str] = field(default_factory=list)


@dataclass
class StoredChunk:
    id: str
    text: str
    metadata: dict[str, Any]
    vector: np.ndarray | None = None  # only when asked for (moving a KB between stores)
    tokens: list[str] | None = None


@dataclass
class ScoredChunk:
    id: str
    text: str
    metadata: dict[str, Any]
    distance: float  # the score contract: 1 - cosine, lower is closer
    rrf: float | None = None  # hybrid search: the fused rank score (higher is better)
    matched_by: list[str] = field(default_factory=list)  # "vector", "keyword"


@dataclass
class Candidates:
    """What a hybrid search fuses: chunks by id, the vector order, keyword hits best first."""

    chunks: dict[str, ScoredChunk]
    vector_order: list[str]
    keyword_hits: list[tuple[str, float]]


@dataclass(frozen=True)
class StoreCapabilities:
    """What a store can do itself; the retrieval layer fills in what it cannot."""

    keyword_search: bool = False  # ranks chunks by query words (BM25 or full text)
    hybrid_search: bool = False  # fuses vector and keyword ranks in one call (in its engine)
    transactional: bool = False  # writes join the database transaction of the catalogue
    shared: bool = False  # several backend processes on several hosts may use it at once
    vectors: bool = False  # returns stored vectors (a move to another store needs no re-embedding)
    listing: bool = True  # can iterate over every chunk it holds (consistency checks, listings)


class VectorStore(ABC):
    """One knowledge base's chunks (a *collection*) in one store."""

    vs_type: ClassVar[str]
    capabilities: StoreCapabilities  # a class attribute, or per object where it depends on the backend

    @abstractmethod
    async def write(
        self, session: AsyncSession, *, delete: Sequence[str] = (), upsert: Sequence[ChunkIn] = ()
    ) -> Undo:
        """Delete chunks by id, then add or replace chunks (same id = replace), all or nothing."""

    @abstractmethod
    async def get(self, ids: Sequence[str]) -> list[StoredChunk]:
        """The chunks with these ids that exist, in the order asked."""

    @abstractmethod
    async def search(
        self, vector: np.ndarray, k: int, *, where: ChunkFilter | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` nearest chunks that pass the filter, nearest first."""

    async def keyword_search(
        self, tokens: Sequence[str], k: int, *, where: ChunkFilter | None = None
    ) -> list[tuple[str, float]]:
        """(id, keyword score) of the ``k`` best keyword matches, best first (``keyword_search``)."""
        raise NotImplementedError(f"{self.vs_type} has no keyword search")

    async def hybrid_search(
        self,
        vector: np.ndarray,
        tokens: Sequence[str],
        k: int,
        *,
        pool: int,
        where: ChunkFilter | None = None,
    ) -> list[ScoredChunk]:
        """Vector and keyword ranks fused by reciprocal rank, best first (``hybrid_search``)."""
        raise NotImplementedError(f"{self.vs_type} has no native hybrid search")

    @abstractmethod
    async def distances(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        """Distances of given chunks to ``vector`` (scores keyword-only hits of a hybrid search)."""

    async def candidates(
        self, vector: np.ndarray, tokens: Sequence[str], pool: int, *, where: ChunkFilter | None = None
    ) -> Candidates:
        """Both rankings of a hybrid search, every chunk with its true distance.

        This default asks the store four times (vector, keyword, distances and texts of the
        keyword-only hits); a store on a server answers it in one statement instead.
        """
        vector_hits = await self.search(vector, pool, where=where)
        keywords = tokens and self.capabilities.keyword_search  # else the vector ranking alone
        keyword_hits = await self.keyword_search(tokens, pool, where=where) if keywords else []
        by_id = {c.id: c for c in vector_hits}
        missing = [doc_id for doc_id, _ in keyword_hits if doc_id not in by_id]
        if missing:
            distance = await self.distances(vector, missing)
            for stored in await self.get(missing):
                if stored.id in distance:
                    by_id[stored.id] = ScoredChunk(
                        stored.id, stored.text, stored.metadata, distance[stored.id]
                    )
        # a keyword hit whose chunk is gone (the keyword index is being rebuilt) is dropped
        keyword_hits = [(doc_id, s) for doc_id, s in keyword_hits if doc_id in by_id]
        return Candidates(by_id, [c.id for c in vector_hits], keyword_hits)

    @abstractmethod
    def iterate(
        self, *, where: ChunkFilter | None = None, page_size: int = 1000, vectors: bool = False
    ) -> AsyncIterator[list[StoredChunk]]:
        """Every chunk that passes the filter, a page at a time (never all of them in one list)."""

    @abstractmethod
    async def count(self) -> int: ...

    @abstractmethod
    async def drop(self, session: AsyncSession | None = None) -> None:
        """Forget everything this collection holds or derived (indexes, files, caches)."""

    async def close(self) -> None:  # noqa: B027 - most stores hold nothing to release
        """Release what the object holds in this process (not the data)."""
