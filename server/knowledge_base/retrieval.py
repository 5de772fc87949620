"""Turn vector and keyword hits into ranked results: filters, thresholds, reciprocal-rank fusion."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from server.knowledge_base.bm25_index import Bm25Index
from server.knowledge_base.store import VectorStore

RRF_K = 60  # the usual constant of reciprocal-rank fusion
CANDIDATES_MIN = 10  # each ranking contributes at least this many candidates to the fusion


@dataclass
class SearchHit:
    id: str
    text: str
    metadata: dict[str, Any]
    score: float  # distance, 1 - cosine: lower is closer
    rrf: float | None = None
    matched_by: list[str] = field(default_factory=list)


def _sql_like(pattern: str) -> str:
    """Chatchat's file_name filter is an SQL LIKE pattern; translate it to a glob."""
    return pattern.replace("*", "[*]").replace("?", "[?]").replace("%", "*").replace("_", "?")


def passes(metadata: dict[str, Any], file_name: str | None, filters: dict[str, Any] | None) -> bool:
    if file_name and not fnmatch.fnmatchcase(str(metadata.get("source", "")), _sql_like(file_name)):
        return False
    return all(metadata.get(key) == value for key, value in (filters or {}).items())


def search(
    store: VectorStore,
    vector: np.ndarray,
    query: str,
    *,
    top_k: int,
    score_threshold: float,
    file_name: str | None = None,
    metadata: dict[str, Any] | None = None,
    bm25: Bm25Index | None = None,
) -> list[SearchHit]:
    """Vector search, or hybrid (vectors + BM25 fused by rank) when a BM25 index is given.

    A vector hit must be within ``score_threshold``; in hybrid search a keyword hit is kept even
    when its vector is farther, since matching the exact words is evidence of its own.
    """
    filtered = bool(file_name or metadata)
    pool = max(CANDIDATES_MIN, top_k * 3) if (filtered or bm25) else top_k
    if filtered:
        pool = max(pool, store.count)
    vector_hits = store.search(vector, pool)
    distance = dict(vector_hits)
    if bm25 is None:
        ranked = [doc_id for doc_id, d in vector_hits if d <= score_threshold]
        fused: dict[str, float] = {}
        keyword: set[str] = set()
    else:
        keyword_hits = bm25.search(query, pool)
        keyword = {doc_id for doc_id, _ in keyword_hits}
        fused = {}
        for rank, (doc_id, _) in enumerate(vector_hits):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        for rank, (doc_id, _) in enumerate(keyword_hits):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        missing = [doc_id for doc_id in keyword if doc_id not in distance]
        distance.update(store.distances(vector, missing))
        ranked = [
            doc_id
            for doc_id in sorted(fused, key=fused.__getitem__, reverse=True)
            if doc_id in distance and (distance[doc_id] <= score_threshold or doc_id in keyword)
        ]
    hits: list[SearchHit] = []
    for doc in store.get(ranked):
        if not passes(doc.metadata, file_name, metadata):
            continue
        by = [
            name for name, ok in (("vector", doc.id in dict(vector_hits)), ("bm25", doc.id in keyword)) if ok
        ]
        hits.append(SearchHit(doc.id, doc.text, doc.metadata, distance[doc.id], fused.get(doc.id), by))
        if len(hits) >= top_k:
            break
    return hits
