"""Our embedders as LangChain ``Embeddings``, for LangChain vector stores and users' own chains.

:class:`GivenVectors` hands a store the vectors we have already computed for the texts it is
given (a store's ``add_texts`` embeds through its embedding function), so nothing is embedded
twice and no store ever reaches for a model of its own; texts it was not given are embedded by
the wrapped model.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from langchain_core.embeddings import Embeddings

from server.knowledge_base.embeddings import EmbeddingPool


class PoolEmbeddings(Embeddings):
    """One configured embedding model (normalised vectors, batched, loaded once)."""

    def __init__(self, pool: EmbeddingPool, model: str) -> None:
        self.pool = pool
        self.model = pool.check(model)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.pool.get(self.model).embed_documents(texts).tolist() if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self.pool.get(self.model).embed_query(text).tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return (await self.pool.aembed_documents(self.model, texts)).tolist() if texts else []

    async def aembed_query(self, text: str) -> list[float]:
        return (await self.pool.aembed_query(self.model, text)).tolist()


class GivenVectors(Embeddings):
    def __init__(self, fallback: Embeddings) -> None:
        self.fallback = fallback
        self._given: dict[str, list[float]] = {}
        self._lock = threading.RLock()

    @contextmanager
    def given(self, texts: Sequence[str], vectors: Sequence[np.ndarray]) -> Iterator[None]:
        """While inside, embedding one of ``texts`` returns its vector from ``vectors``."""
        with self._lock:
            self._given = {
                t: np.asarray(v, dtype=np.float32).tolist() for t, v in zip(texts, vectors, strict=True)
            }
            try:
                yield
            finally:
                self._given = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in texts if t not in self._given]
        computed = dict(zip(missing, self.fallback.embed_documents(missing), strict=True)) if missing else {}
        return [self._given.get(t) or computed[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        given = self._given.get(text)
        return given if given is not None else self.fallback.embed_query(text)
