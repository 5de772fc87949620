"""Turn a question into ranked chunks of one store: vector, keyword and hybrid search.

Filters are pushed down to the store. Hybrid search is the store's own when it has one (one
query in PostgreSQL); otherwise its vector and keyword rankings are fused here by reciprocal
rank. A vector hit must be within ``score_threshold``; in hybrid search a keyword hit is kept
even when its vector is farther, since matching the exact words is evidence of its own. Every
hit's ``score`` is its vector distance (the score contract of :mod:`stores.base`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from server.knowledge_base.stores.base import ChunkFilter, ScoredChunk, VectorStore

RRF_K = 60  # the usual constant of reciprocal-rank fusion
CANDIDATES_MIN = 10  # each ranking contributes at least this many candidates to the fusion


@dataclass
class SearchHit:
    id: str
    text: str
    metadata: dict[str, Any]
    score: float  # distance, 1 - cosine: lower is closer
    rrf: float | None = None
    matched_by: list[str] = field(default_factory=list)  # "vector", "keyword"


def _hit(chunk: ScoredChunk) -> SearchHit:
    return SearchHit(chunk.id, chunk.text, chunk.metadata, chunk.distance, chunk.rrf, list(chunk.matched_by))


def rrf_fuse(*rankings: Sequence[str]) -> dict[str, float]:
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (RRF_K + rank + 1)
    return fused


def keeps(chunk: ScoredChunk, score_threshold: float) -> bool:
    return chunk.distance <= score_threshold or "keyword" in chunk.matched_by


async def fuse_in_python(
    store: VectorStore,
    vector: np.ndarray,
    tokens: Sequence[str],
    pool: int,
    where: ChunkFilter | None,
) -> list[ScoredChunk]:
    vector_hits = await store.search(vector, pool, where=where)
    keyword_hits = await store.keyword_search(tokens, pool, where=where) if tokens else []
    by_id = {c.id: c for c in vector_hits}
    keyword = [doc_id for doc_id, _ in keyword_hits]
    fused = rrf_fuse([c.id for c in vector_hits], keyword)
    missing = [doc_id for doc_id in keyword if doc_id not in by_id]
    if missing:
        distance = await store.distances(vector, missing)
        for stored in await store.get(missing):
            by_id[stored.id] = ScoredChunk(stored.id, stored.text, stored.metadata, distance[stored.id])
    out = []
    keyword_set, vector_set = set(keyword), {c.id for c in vector_hits}
    for doc_id in sorted(fused, key=fused.__getitem__, reverse=True):
        chunk = by_id.get(doc_id)
        if chunk is None:  # a keyword hit whose chunk is gone (the keyword index is being rebuilt)
            continue
        matched = [name for name, ids in (("vector", vector_set), ("keyword", keyword_set)) if doc_id in ids]
        out.append(ScoredChunk(chunk.id, chunk.text, chunk.metadata, chunk.distance, fused[doc_id], matched))
    return out


async def search(
    store: VectorStore,
    vector: np.ndarray,
    tokens: Sequence[str],
    *,
    top_k: int,
    score_threshold: float,
    where: ChunkFilter | None = None,
    hybrid: bool = False,
) -> list[SearchHit]:
    """Vector search, or hybrid (vectors + keywords fused by rank) when asked and possible."""
    where = where if where is not None and not where.empty else None
    caps = store.capabilities
    if not hybrid or not (caps.keyword_search or caps.hybrid_search):
        hits = await store.search(vector, top_k, where=where)
        return [_hit(c) for c in hits if c.distance <= score_threshold]
    pool = max(CANDIDATES_MIN, top_k * 3)
    if caps.hybrid_search:
        fused = await store.hybrid_search(vector, tokens, top_k, pool=pool, where=where)
    else:
        fused = await fuse_in_python(store, vector, tokens, pool, where)
    return [_hit(c) for c in fused if keeps(c, score_threshold)][:top_k]
