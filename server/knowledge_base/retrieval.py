"""Turn a question into ranked chunks of one store: vector, keyword and hybrid search.

Filters are pushed down to the store. Hybrid search takes the store's vector and keyword
candidates and fuses them here (a store's native one-query fusion is used for plain ``rrf``).

Every hit carries three kinds of score:

- ``score``: its vector distance, ``1 - cosine`` (Chatchat's ``score``, lower is closer; the score
  contract of :mod:`stores.base`), bounded by ``score_threshold``. In hybrid search a keyword hit
  is kept even when its vector is farther, since matching the exact words is evidence of its own.
- ``scores``: its score at each stage, each 0..1 and higher is better: ``vector`` (cosine
  similarity), ``keyword`` (its keyword score over the best keyword score of the query),
  ``fused`` (hybrid search) and ``rerank`` (set by :mod:`rerank`).
- ``relevance``: the score of the last stage it went through, 0..1, higher is better; what
  ``min_relevance`` bounds and what a user is shown.

Fusion (``kb.fusion``):

- ``weighted``: ``alpha * similarity + (1 - alpha) * keyword``, the vector side on its own
  absolute scale and the keyword side relative to the query's best match (BM25 and ``ts_rank``
  have no absolute scale). A chunk far from the query cannot ride on one shared word.
- ``relative``: the same blend of both sides min-max normalised over the candidates.
- ``rrf``: reciprocal-rank fusion; its ``fused`` score is the RRF sum over its largest value.

bench/retrieval.py measures all three against each component; the default is what it chose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from server.knowledge_base.stores.base import ChunkFilter, ScoredChunk, VectorStore

Fusion = Literal["weighted", "relative", "rrf"]
FUSIONS: tuple[str, ...] = ("weighted", "relative", "rrf")
RRF_K = 60  # the usual constant of reciprocal-rank fusion
CANDIDATES_MIN = 10  # each ranking contributes at least this many candidates to the fusion
DEFAULT_ALPHA = 0.7  # chosen by bench/retrieval.py (see the notes in README)


@dataclass
class SearchHit:
    id: str
    text: str
    metadata: dict[str, Any]
    score: float  # distance, 1 - cosine: lower is closer
    rrf: float | None = None
    matched_by: list[str] = field(default_factory=list)  # "vector", "keyword"
    relevance: float = 0.0  # 0..1, higher is better: the last stage's score
    scores: dict[str, float] = field(default_factory=dict)  # per stage, each 0..1
    kb: str | None = None  # the knowledge base it came from (several-KB search)


def similarity(distance: float) -> float:
    """Cosine similarity of a ``1 - cosine`` distance, clipped to 0..1 (opposite = unrelated)."""
    return float(min(1.0, max(0.0, 1.0 - distance)))


def _vector_hit(chunk: ScoredChunk) -> SearchHit:
    sim = round(similarity(chunk.distance), 6)
    return SearchHit(
        chunk.id, chunk.text, chunk.metadata, chunk.distance, None, ["vector"], sim, {"vector": sim}
    )


def rrf_fuse(*rankings: Sequence[str]) -> dict[str, float]:
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (RRF_K + rank + 1)
    return fused


def fuse_scores(
    vector_sim: dict[str, float],
    keyword_raw: dict[str, float],
    vector_order: Sequence[str],
    keyword_order: Sequence[str],
    *,
    fusion: Fusion,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, tuple[float, float, float]]:
    """``id -> (fused, keyword 0..1, rrf)`` for every candidate; ``vector_sim`` covers all of them.

    A candidate the keyword search did not match scores 0 on that side, so a fused score is
    never above ``alpha`` without keyword evidence nor above ``1 - alpha`` without vector evidence.
    """
    best = max(keyword_raw.values(), default=0.0)
    keyword = {i: (keyword_raw.get(i, 0.0) / best if best > 0 else 0.0) for i in vector_sim}
    rrf = rrf_fuse(vector_order, keyword_order)
    out: dict[str, tuple[float, float, float]] = {}
    if fusion == "rrf":
        top = 2.0 / (RRF_K + 1)  # first in both rankings
        for i in vector_sim:
            out[i] = (rrf.get(i, 0.0) / top, keyword[i], rrf.get(i, 0.0))
        return out
    sims = vector_sim
    if fusion == "relative":
        low, high = min(sims.values(), default=0.0), max(sims.values(), default=0.0)
        span = high - low
        sims = {i: ((s - low) / span if span > 0 else 1.0) for i, s in sims.items()}
    for i in vector_sim:
        out[i] = (alpha * sims[i] + (1.0 - alpha) * keyword[i], keyword[i], rrf.get(i, 0.0))
    return out


def merge_rankings(rankings: Sequence[Sequence[SearchHit]]) -> list[SearchHit]:
    """Several rankings (one per knowledge base) as one, by reciprocal rank; ties by relevance.

    Each KB's own order is kept, and no KB's scores need to be comparable with another's.
    """
    fused: list[tuple[float, float, int, SearchHit]] = []
    for ranking in rankings:
        for rank, hit in enumerate(ranking):
            fused.append((1.0 / (RRF_K + rank + 1), hit.relevance, -len(fused), hit))
    return [hit for *_, hit in sorted(fused, key=lambda f: f[:3], reverse=True)]


def keeps(hit: SearchHit, score_threshold: float, min_relevance: float = 0.0) -> bool:
    near = hit.score <= score_threshold or "keyword" in hit.matched_by
    return near and hit.relevance >= min_relevance


async def fused_search(
    store: VectorStore,
    vector: np.ndarray,
    tokens: Sequence[str],
    pool: int,
    where: ChunkFilter | None,
    *,
    fusion: Fusion = "weighted",
    alpha: float = DEFAULT_ALPHA,
) -> list[SearchHit]:
    """Every candidate of both rankings, fused, best first."""
    if fusion == "rrf" and store.capabilities.hybrid_search:
        native = await store.hybrid_search(vector, tokens, pool, pool=pool, where=where)
        return [_native_rrf_hit(c) for c in native]
    found = await store.candidates(vector, tokens, pool, where=where)
    by_id, vector_order, keyword_hits = found.chunks, found.vector_order, found.keyword_hits
    sims = {i: similarity(c.distance) for i, c in by_id.items()}
    fused = fuse_scores(
        sims, dict(keyword_hits), vector_order, [i for i, _ in keyword_hits], fusion=fusion, alpha=alpha
    )
    vector_set, keyword_set = set(vector_order), {i for i, _ in keyword_hits}
    out = []
    for doc_id, (score, keyword, rrf) in fused.items():
        chunk = by_id[doc_id]
        matched = [name for name, ids in (("vector", vector_set), ("keyword", keyword_set)) if doc_id in ids]
        stage = {"vector": round(sims[doc_id], 6), "keyword": round(keyword, 6), "fused": round(score, 6)}
        out.append(
            SearchHit(
                chunk.id, chunk.text, chunk.metadata, chunk.distance, rrf, matched, stage["fused"], stage
            )
        )
    out.sort(key=lambda h: (-h.relevance, h.score))
    return out


def _native_rrf_hit(chunk: ScoredChunk) -> SearchHit:
    fused = round((chunk.rrf or 0.0) / (2.0 / (RRF_K + 1)), 6)
    stage = {"vector": round(similarity(chunk.distance), 6), "fused": fused}
    return SearchHit(
        chunk.id, chunk.text, chunk.metadata, chunk.distance, chunk.rrf, list(chunk.matched_by), fused, stage
    )


async def search(
    store: VectorStore,
    vector: np.ndarray,
    tokens: Sequence[str],
    *,
    top_k: int,
    score_threshold: float,
    where: ChunkFilter | None = None,
    hybrid: bool = False,
    fusion: Fusion = "weighted",
    alpha: float = DEFAULT_ALPHA,
    min_relevance: float = 0.0,
    pool: int | None = None,
) -> list[SearchHit]:
    """Vector search, or hybrid (vectors + keywords fused) when asked and possible.

    ``pool`` is how many candidates each ranking contributes (a reranker asks for more than
    ``top_k``); the result is cut to ``top_k`` after the thresholds.
    """
    where = where if where is not None and not where.empty else None
    caps = store.capabilities
    if not hybrid or not tokens or not (caps.keyword_search or caps.hybrid_search):
        hits = [_vector_hit(c) for c in await store.search(vector, max(top_k, pool or 0), where=where)]
    else:
        size = max(CANDIDATES_MIN, top_k * 3, pool or 0)
        hits = await fused_search(store, vector, tokens, size, where, fusion=fusion, alpha=alpha)
    return [h for h in hits if keeps(h, score_threshold, min_relevance)][:top_k]
