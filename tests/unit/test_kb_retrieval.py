"""Retrieval on a real FAISS store and its BM25 index, with vectors placed by hand so every distance is known.

Each chunk's vector is at an angle from the query, so its distance (``1 - cosine``) is exact:
0° → 0.0, 60° → 0.5, 90° → 1.0, 120° → 1.5, 180° → 2.0. FAISS has keyword search but no
hybrid search of its own, so these stories exercise the fusion in :mod:`retrieval`.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np
import pytest

from server.knowledge_base.bm25_index import tokenize
from server.knowledge_base.retrieval import RRF_K, SearchHit, fuse_scores, merge_rankings, search
from server.knowledge_base.stores.base import ChunkFilter, ChunkIn
from server.knowledge_base.stores.faiss_store import FaissStore

QUERY = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)


def at(degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    return np.array([math.cos(angle), math.sin(angle), 0.0, 0.0], dtype=np.float32)


# (angle, text, metadata)
CHUNKS = [
    (0, "apples and pears from the orchard", {"source": "fruit.md"}),
    (60, "the zeta-9 valve manual", {"source": "valve.txt", "lang": "en"}),
    (90, "oranges in winter", {"source": "fruit2.md"}),
    (120, "zeta-9 spare parts list", {"source": "parts.txt"}),
    (180, "nothing to see here", {"source": "misc.txt"}),
]


def build(
    chunks: list[tuple[float, str, dict[str, Any]]], *, keywords: bool = True
) -> tuple[FaissStore, list[str]]:
    """An in-memory store holding ``chunks`` (with their keyword tokens unless ``keywords`` is off)."""
    store = FaissStore(None)
    ids = [f"chunk-{n}" for n in range(len(chunks))]
    written = [
        ChunkIn(chunk_id, text, dict(meta), at(angle), tokenize(text) if keywords else [])
        for chunk_id, (angle, text, meta) in zip(ids, chunks, strict=True)
    ]
    asyncio.run(store.write(None, upsert=written))
    return store, ids


def find(store: FaissStore, words: str = "", **options: Any) -> list[SearchHit]:
    """``search`` as the service calls it: hybrid when there are query words."""
    tokens = tokenize(words)
    return asyncio.run(search(store, QUERY, tokens, hybrid=bool(tokens), **options))


@pytest.fixture
def kb() -> tuple[FaissStore, list[str]]:
    return build(CHUNKS)


def test_vector_search_ranks_by_distance_within_the_threshold_and_top_k(kb) -> None:  # noqa: ANN001
    store, ids = kb
    hits = find(store, top_k=5, score_threshold=1.0)
    assert [h.id for h in hits] == ids[:3]  # 1.5 and 2.0 are beyond the threshold
    assert [h.score for h in hits] == pytest.approx([0.0, 0.5, 1.0], abs=1e-6)
    assert all(h.matched_by == ["vector"] and h.rrf is None for h in hits)
    assert [h.id for h in find(store, top_k=5, score_threshold=0.6)] == ids[:2]
    assert [h.id for h in find(store, top_k=1, score_threshold=2.0)] == ids[:1]
    assert find(store, top_k=3, score_threshold=2.0)[1].text == "the zeta-9 valve manual"


def test_a_file_name_filter_is_chatchats_sql_like_pattern(kb) -> None:  # noqa: ANN001
    store, ids = kb
    md = find(store, top_k=5, score_threshold=2.0, where=ChunkFilter(file_name="%.md"))
    assert [h.id for h in md] == [ids[0], ids[2]]
    # "_" is one character: fruit2.md matches, fruit.md does not
    one = find(store, top_k=5, score_threshold=2.0, where=ChunkFilter(file_name="fruit_.md"))
    assert [h.id for h in one] == [ids[2]]
    assert ChunkFilter(file_name="a*b.txt").matches({"source": "a*b.txt"})  # glob characters are literal
    assert not ChunkFilter(file_name="a*b.txt").matches({"source": "axyb.txt"})
    assert not ChunkFilter(file_name="a_b.txt", metadata={"lang": "en"}).matches({"source": "a?b.txt"})


def test_a_metadata_filter_keeps_only_equal_values(kb) -> None:  # noqa: ANN001
    store, ids = kb
    hits = find(store, top_k=5, score_threshold=2.0, where=ChunkFilter(metadata={"lang": "en"}))
    assert [h.id for h in hits] == [ids[1]]
    assert find(store, top_k=5, score_threshold=2.0, where=ChunkFilter(metadata={"lang": "fr"})) == []


def test_a_filter_finds_a_match_far_down_the_ranking() -> None:
    """Filtering is applied over the whole store, not just the few nearest chunks."""
    crowd = [(10, f"note {n}", {"source": "other.txt"}) for n in range(40)]
    store, ids = build([*crowd, (80, "the one we want", {"source": "target.txt"})])
    hits = find(store, top_k=1, score_threshold=1.0, where=ChunkFilter(file_name="target.txt"))
    assert [h.id for h in hits] == [ids[-1]]
    assert hits[0].score == pytest.approx(1 - math.cos(math.radians(80)), abs=1e-6)


def test_hybrid_search_fuses_both_rankings_by_reciprocal_rank(kb) -> None:  # noqa: ANN001
    store, ids = kb
    hits = find(store, "zeta-9", top_k=5, score_threshold=2.0, fusion="rrf")
    # vector ranks 0..4 in CHUNKS order; BM25 ranks the shorter valve manual before the parts list
    rrf = {
        ids[0]: 1 / (RRF_K + 1),
        ids[1]: 1 / (RRF_K + 2) + 1 / (RRF_K + 1),
        ids[2]: 1 / (RRF_K + 3),
        ids[3]: 1 / (RRF_K + 4) + 1 / (RRF_K + 2),
        ids[4]: 1 / (RRF_K + 5),
    }
    assert [h.id for h in hits] == [ids[1], ids[3], ids[0], ids[2], ids[4]]
    assert [h.rrf for h in hits] == pytest.approx([rrf[h.id] for h in hits])
    assert [h.matched_by for h in hits[:3]] == [["vector", "keyword"], ["vector", "keyword"], ["vector"]]
    assert [h.score for h in hits] == pytest.approx([0.5, 1.5, 0.0, 1.0, 2.0], abs=1e-6)


def test_weighted_fusion_blends_similarity_with_the_keyword_score_over_the_best(kb) -> None:  # noqa: ANN001
    store, ids = kb
    keyword = dict(asyncio.run(store.keyword_search(tokenize("zeta-9"), 5)))
    parts = keyword[ids[3]] / keyword[ids[1]]  # the parts list scores below the valve manual
    hits = find(store, "zeta-9", top_k=5, score_threshold=2.0, fusion="weighted", alpha=0.5)
    # similarity: 1.0, 0.5, 0.0 (90°), 0.0 (120°, clipped), 0.0 (180°)
    expected = {ids[0]: 0.5, ids[1]: 0.25 + 0.5, ids[2]: 0.0, ids[3]: 0.5 * parts, ids[4]: 0.0}
    assert [h.id for h in hits] == [ids[1], ids[0], ids[3], ids[2], ids[4]]  # ties: nearer first
    assert [h.relevance for h in hits] == pytest.approx([expected[h.id] for h in hits], abs=1e-5)
    assert hits[0].scores == pytest.approx({"vector": 0.5, "keyword": 1.0, "fused": 0.75}, abs=1e-5)
    assert hits[1].scores["keyword"] == 0.0 and hits[1].matched_by == ["vector"]
    assert [h.score for h in hits] == pytest.approx([0.5, 0.0, 1.5, 1.0, 2.0], abs=1e-6)  # still distances


def test_relative_fusion_min_max_normalises_the_vector_side(kb) -> None:  # noqa: ANN001
    store, ids = kb
    hits = find(store, "zeta-9", top_k=5, score_threshold=2.0, fusion="relative", alpha=0.5)
    by_id = {h.id: h for h in hits}
    # similarities 1.0 .. 0.0 span the whole range, so normalising keeps them; the top is 0.75
    assert by_id[ids[1]].relevance == pytest.approx(0.75, abs=1e-5)
    assert by_id[ids[0]].relevance == pytest.approx(0.5, abs=1e-5)


def test_vector_relevance_is_the_cosine_similarity_and_min_relevance_bounds_it(kb) -> None:  # noqa: ANN001
    store, ids = kb
    hits = find(store, top_k=5, score_threshold=2.0)
    assert [h.relevance for h in hits] == pytest.approx([1.0, 0.5, 0.0, 0.0, 0.0], abs=1e-6)
    assert all(h.scores == {"vector": h.relevance} for h in hits)
    kept = find(store, top_k=5, score_threshold=2.0, min_relevance=0.4)
    assert [h.id for h in kept] == ids[:2]
    # min_relevance applies to the fused score in hybrid search, keyword hits included
    fused = find(store, "zeta-9", top_k=5, score_threshold=2.0, alpha=0.5, min_relevance=0.6)
    assert [h.id for h in fused] == [ids[1]]


def test_hybrid_search_applies_the_filter_to_both_rankings(kb) -> None:  # noqa: ANN001
    store, ids = kb
    hits = find(store, "zeta-9", top_k=5, score_threshold=2.0, where=ChunkFilter(file_name="parts.txt"))
    assert [h.id for h in hits] == [ids[3]] and hits[0].matched_by == ["vector", "keyword"]


def test_a_keyword_hit_is_kept_beyond_the_threshold_and_other_far_chunks_are_not(kb) -> None:  # noqa: ANN001
    store, ids = kb
    hits = find(store, "zeta-9", top_k=5, score_threshold=0.4, alpha=0.5)
    # 0.5 and 1.5 are past 0.4 but match the words; 1.0 and 2.0 match neither way
    assert [h.id for h in hits] == [ids[1], ids[0], ids[3]]
    assert [h.id for h in find(store, "zeta-9", top_k=1, score_threshold=0.4, alpha=0.5)] == [ids[1]]


def test_a_keyword_hit_outside_the_vector_candidates_gets_its_true_distance() -> None:
    crowd = [(1 + n, f"filler {n}", {"source": "filler.txt"}) for n in range(12)]
    store, ids = build([*crowd, (150, "the kestrel protocol", {"source": "rare.txt"})])
    hits = find(store, "kestrel", top_k=3, score_threshold=1.0, fusion="rrf")
    # Ten vector candidates (the nearest fillers); the keyword hit is none of them, yet first in BM25,
    # so by reciprocal rank it fuses level with the nearest filler, ahead of the second.
    assert {h.id for h in hits} == {ids[0], ids[1], ids[-1]}
    rare = next(h for h in hits if h.id == ids[-1])
    assert rare.matched_by == ["keyword"] and rare.rrf == pytest.approx(1 / (RRF_K + 1))
    assert rare.score == pytest.approx(1 - math.cos(math.radians(150)), abs=1e-6)
    assert hits[-1].id == ids[1]
    # weighted fusion scores its similarity (0 at 150°) too: it follows the near fillers
    weighted = find(store, "kestrel", top_k=13, score_threshold=1.0, fusion="weighted", alpha=0.7)
    rare = next(h for h in weighted if h.id == ids[-1])
    assert rare.relevance == pytest.approx(0.3) and rare.score == pytest.approx(
        1 - math.cos(math.radians(150))
    )


def test_hybrid_with_an_empty_keyword_index_is_the_vector_ranking() -> None:
    store, ids = build(CHUNKS, keywords=False)  # chunks stored without tokens: no word can match
    hits = find(store, "zeta-9", top_k=5, score_threshold=1.0)
    assert [h.id for h in hits] == ids[:3]
    assert all(h.matched_by == ["vector"] for h in hits)


def test_an_empty_store_finds_nothing() -> None:
    store = FaissStore(None)
    assert find(store, top_k=3, score_threshold=2.0) == []
    assert find(store, "anything", top_k=3, score_threshold=2.0) == []


def test_fusion_without_keyword_evidence_never_passes_alpha() -> None:
    sims = {"a": 0.9, "b": 0.2, "c": 0.6}
    fused = fuse_scores(sims, {"b": 4.0, "c": 2.0}, ["a", "c", "b"], ["b", "c"], fusion="weighted", alpha=0.7)
    assert fused["a"][0] == pytest.approx(0.7 * 0.9)  # no keyword match: at most alpha
    assert fused["b"][0] == pytest.approx(0.7 * 0.2 + 0.3 * 1.0)
    assert fused["c"][0] == pytest.approx(0.7 * 0.6 + 0.3 * 0.5)
    relative = fuse_scores(sims, {"b": 4.0}, ["a", "c", "b"], ["b"], fusion="relative", alpha=0.5)
    assert relative["a"][0] == pytest.approx(0.5) and relative["b"][0] == pytest.approx(0.5)
    rrf = fuse_scores(sims, {"b": 4.0}, ["a", "c", "b"], ["b"], fusion="rrf")
    assert rrf["b"][2] == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert max(f[0] for f in rrf.values()) <= 1.0


def test_several_knowledge_bases_merge_by_reciprocal_rank_keeping_each_order() -> None:
    def hit(doc_id: str, relevance: float, kb: str) -> SearchHit:
        return SearchHit(doc_id, doc_id, {}, 1 - relevance, relevance=relevance, kb=kb)

    a = [hit("a1", 0.9, "A"), hit("a2", 0.8, "A"), hit("a3", 0.1, "A")]
    b = [hit("b1", 0.95, "B"), hit("b2", 0.3, "B")]
    merged = merge_rankings([a, b])
    assert [h.id for h in merged] == ["b1", "a1", "a2", "b2", "a3"]  # same rank: higher relevance first
    assert [h.kb for h in merged] == ["B", "A", "A", "B", "A"]
    assert merge_rankings([a]) == a and merge_rankings([]) == []
