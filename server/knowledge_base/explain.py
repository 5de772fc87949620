"""Why a chunk was or was not retrieved: the retrieval test, every candidate traced through each stage.

It runs the stages of ``KnowledgeBaseService.search_many`` on the same primitives with the same
sizes (vector and keyword candidates, fusion, the thresholds, the per-KB cut, the merge of
several KBs, reranking) and keeps every candidate instead of only the winners: its rank and
score at each stage, and which filter or cut dropped it. A test checks that the chunks it
keeps are exactly the ones ``search_many`` returns, so the view never explains another search.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from server.knowledge_base.bm25_index import tokenize
from server.knowledge_base.rerank import rerank as rerank_hits
from server.knowledge_base.retrieval import (
    CANDIDATES_MIN,
    SearchHit,
    _vector_hit,
    fused_search,
    keeps,
    merge_rankings,
)
from server.knowledge_base.service import KnowledgeBaseService, wants_rerank

Dropped = Literal["score_threshold", "min_relevance", "top_k", "rerank_top_n"]


@dataclass
class Candidate:
    """One chunk the search looked at."""

    hit: SearchHit
    ranks: dict[str, int] = field(
        default_factory=dict
    )  # stage -> 1-based rank: vector, keyword, fused, merged, rerank
    rank: int | None = None  # in the final result; None = dropped
    dropped_by: Dropped | None = None


@dataclass
class Explained:
    query: str
    hybrid: dict[str, bool]  # per KB: was keyword search used
    reranker: str | None
    candidates: list[Candidate]
    timings_ms: dict[str, float]

    @property
    def kept(self) -> list[SearchHit]:
        return [c.hit for c in sorted((c for c in self.candidates if c.rank), key=lambda c: c.rank or 0)]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _stage_ranks(hits: list[SearchHit], hybrid: bool) -> dict[str, dict[str, int]]:
    """id -> {stage: rank} for the vector, keyword and (hybrid) fused orders of one KB's candidates."""
    out: dict[str, dict[str, int]] = {h.id: {} for h in hits}
    by_vector = sorted((h for h in hits if "vector" in h.matched_by), key=lambda h: h.score)
    for rank, hit in enumerate(by_vector, start=1):
        out[hit.id]["vector"] = rank
    by_keyword = sorted(
        (h for h in hits if "keyword" in h.matched_by), key=lambda h: -h.scores.get("keyword", 0.0)
    )
    for rank, hit in enumerate(by_keyword, start=1):
        out[hit.id]["keyword"] = rank
    if hybrid:
        for rank, hit in enumerate(hits, start=1):
            out[hit.id]["fused"] = rank
    return out


async def explain(
    service: KnowledgeBaseService,
    kb_names: list[str],
    query: str,
    *,
    top_k: int,
    score_threshold: float,
    hybrid: bool | None = None,
    min_relevance: float | None = None,
    rerank: bool | None = None,
    rerank_top_n: int | None = None,
    reranker: str | None = None,
) -> Explained:
    """``search_many``'s stages with every candidate kept and labelled (same arguments, same result)."""
    settings = service.settings.kb
    floor = settings.min_relevance if min_relevance is None else min_relevance
    names = list(dict.fromkeys(kb_names))
    kbs = [await service.get(name) for name in names]
    engine = service.rerankers.get(reranker) if wants_rerank(rerank, kbs, settings.rerank) else None
    timings: dict[str, float] = {}
    started = time.perf_counter()
    vectors = {}
    for model in dict.fromkeys(kb.embed_model for kb in kbs):
        vectors[model] = await service.embeddings.aembed_query(model, query)
    timings["embed"] = _ms(started)
    wanted = max(top_k, engine.config.candidates or settings.rerank_candidates) if engine else top_k
    per_kb_floor = 0.0 if engine else floor
    candidates: dict[tuple[str, str], Candidate] = {}
    rankings: list[list[SearchHit]] = []
    used_keywords: dict[str, bool] = {}
    for kb in kbs:
        started = time.perf_counter()
        store = await service.store(kb)
        use_keywords = kb.hybrid if hybrid is None else hybrid
        tokens = await asyncio.to_thread(tokenize, query) if use_keywords else []
        caps = store.capabilities
        fused = bool(use_keywords and tokens and (caps.keyword_search or caps.hybrid_search))
        vector = vectors[kb.embed_model]
        if fused:
            size = max(CANDIDATES_MIN, wanted * 3)
            hits = await fused_search(
                store, vector, tokens, size, None, fusion=settings.fusion, alpha=settings.fusion_alpha
            )
        else:
            hits = [_vector_hit(c) for c in await store.search(vector, max(wanted, CANDIDATES_MIN))]
        timings[f"search:{kb.kb_name}"] = _ms(started)
        used_keywords[kb.kb_name] = fused
        ranks = _stage_ranks(hits, fused)
        passed: list[SearchHit] = []
        for hit in hits:
            hit.kb = kb.kb_name
            candidate = Candidate(hit, ranks[hit.id])
            candidates[(kb.kb_name, hit.id)] = candidate
            if not keeps(hit, score_threshold):
                candidate.dropped_by = "score_threshold"
            elif hit.relevance < per_kb_floor:
                candidate.dropped_by = "min_relevance"
            elif len(passed) >= wanted:
                candidate.dropped_by = "top_k"
            else:
                passed.append(hit)
        rankings.append(passed)
    started = time.perf_counter()
    merged_all = merge_rankings(rankings)
    for rank, hit in enumerate(merged_all, start=1):
        candidate = candidates[(hit.kb or "", hit.id)]
        candidate.ranks["merged"] = rank
        if rank > wanted:
            candidate.dropped_by = "top_k"
    merged = merged_all[:wanted]
    timings["merge"] = _ms(started)
    if engine is None:
        final = merged[:top_k]
    else:
        started = time.perf_counter()
        final = await rerank_hits(engine, query, merged, top_n=rerank_top_n or top_k, min_relevance=floor)
        timings["rerank"] = _ms(started)
        for rank, hit in enumerate(sorted(merged, key=lambda h: -h.relevance), start=1):
            candidate = candidates[(hit.kb or "", hit.id)]
            candidate.ranks["rerank"] = rank
            candidate.dropped_by = "min_relevance" if hit.relevance < floor else "rerank_top_n"
    for rank, hit in enumerate(final, start=1):
        candidate = candidates[(hit.kb or "", hit.id)]
        candidate.rank, candidate.dropped_by = rank, None
    ordered = sorted(
        candidates.values(),
        key=lambda c: (c.rank is None, c.rank or 0, c.ranks.get("merged", 10**6), c.ranks.get("fused", 0)),
    )
    return Explained(query, used_keywords, engine.name if engine else None, ordered, timings)


def describe(candidate: Candidate) -> dict[str, Any]:
    """What the retrieval test shows of a candidate (the wire model in ``server.api`` mirrors it)."""
    hit = candidate.hit
    return {
        "rank": candidate.rank,
        "dropped_by": candidate.dropped_by,
        "knowledge_base_name": hit.kb,
        "id": hit.id,
        "file_name": str(hit.metadata.get("source", "")),
        "text": hit.text,
        "start": hit.metadata.get("start"),
        "end": hit.metadata.get("end"),
        "score": round(hit.score, 6),
        "relevance": round(hit.relevance, 6),
        "scores": dict(hit.scores),
        "ranks": dict(candidate.ranks),
        "matched_by": list(hit.matched_by),
    }
