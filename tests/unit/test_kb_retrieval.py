"""Retrieval on a real FAISS store and BM25 index, with vectors placed by hand so every distance is known.

Each chunk's vector is at an angle from the query, so its distance (``1 - cosine``) is exact:
0° → 0.0, 60° → 0.5, 90° → 1.0, 120° → 1.5, 180° → 2.0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from server.knowledge_base.bm25_index import Bm25Index
from server.knowledge_base.faiss_store import FaissStore
from server.knowledge_base.retrieval import RRF_K, passes, search

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


def build(chunks: list[tuple[float, str, dict]]) -> tuple[FaissStore, list[str], Bm25Index]:
    store = FaissStore(None)
    ids = store.add(
        [text for _, text, _ in chunks],
        [dict(meta) for _, _, meta in chunks],
        np.vstack([at(angle) for angle, _, _ in chunks]),
    )
    return store, ids, Bm25Index.build(ids, [text for _, text, _ in chunks])


@pytest.fixture
def kb() -> tuple[FaissStore, list[str], Bm25Index]:
    return build(CHUNKS)


def test_vector_search_ranks_by_distance_within_the_threshold_and_top_k(kb) -> None:  # noqa: ANN001
    store, ids, _ = kb
    hits = search(store, QUERY, "", top_k=5, score_threshold=1.0)
    assert [h.id for h in hits] == ids[:3]  # 1.5 and 2.0 are beyond the threshold
    assert [h.score for h in hits] == pytest.approx([0.0, 0.5, 1.0], abs=1e-6)
    assert all(h.matched_by == ["vector"] and h.rrf is None for h in hits)
    assert [h.id for h in search(store, QUERY, "", top_k=5, score_threshold=0.6)] == ids[:2]
    assert [h.id for h in search(store, QUERY, "", top_k=1, score_threshold=2.0)] == ids[:1]
    assert search(store, QUERY, "", top_k=3, score_threshold=2.0)[1].text == "the zeta-9 valve manual"


def test_a_file_name_filter_is_chatchats_sql_like_pattern(kb) -> None:  # noqa: ANN001
    store, ids, _ = kb
    assert [h.id for h in search(store, QUERY, "", top_k=5, score_threshold=2.0, file_name="%.md")] == [
        ids[0],
        ids[2],
    ]
    # "_" is one character: fruit2.md matches, fruit.md does not
    assert [h.id for h in search(store, QUERY, "", top_k=5, score_threshold=2.0, file_name="fruit_.md")] == [
        ids[2]
    ]
    assert passes({"source": "a*b.txt"}, "a*b.txt", None)  # glob characters are literal
    assert not passes({"source": "axyb.txt"}, "a*b.txt", None)
    assert not passes({"source": "a?b.txt"}, "a_b.txt", {"lang": "en"})


def test_a_metadata_filter_keeps_only_equal_values(kb) -> None:  # noqa: ANN001
    store, ids, _ = kb
    hits = search(store, QUERY, "", top_k=5, score_threshold=2.0, metadata={"lang": "en"})
    assert [h.id for h in hits] == [ids[1]]
    assert search(store, QUERY, "", top_k=5, score_threshold=2.0, metadata={"lang": "fr"}) == []


def test_a_filter_finds_a_match_far_down_the_ranking() -> None:
    """Filtering is applied over the whole store, not just the few nearest chunks."""
    crowd = [(10, f"note {n}", {"source": "other.txt"}) for n in range(40)]
    store, ids, _ = build([*crowd, (80, "the one we want", {"source": "target.txt"})])
    hits = search(store, QUERY, "", top_k=1, score_threshold=1.0, file_name="target.txt")
    assert [h.id for h in hits] == [ids[-1]]
    assert hits[0].score == pytest.approx(1 - math.cos(math.radians(80)), abs=1e-6)


def test_hybrid_search_fuses_both_rankings_by_reciprocal_rank(kb) -> None:  # noqa: ANN001
    store, ids, bm25 = kb
    hits = search(store, QUERY, "zeta-9", top_k=5, score_threshold=2.0, bm25=bm25)
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
    assert [h.matched_by for h in hits[:3]] == [["vector", "bm25"], ["vector", "bm25"], ["vector"]]
    assert [h.score for h in hits] == pytest.approx([0.5, 1.5, 0.0, 1.0, 2.0], abs=1e-6)


def test_a_keyword_hit_is_kept_beyond_the_threshold_and_other_far_chunks_are_not(kb) -> None:  # noqa: ANN001
    store, ids, bm25 = kb
    hits = search(store, QUERY, "zeta-9", top_k=5, score_threshold=0.4, bm25=bm25)
    # 0.5 and 1.5 are past 0.4 but match the words; 1.0 and 2.0 match neither way
    assert [h.id for h in hits] == [ids[1], ids[3], ids[0]]
    assert [h.id for h in search(store, QUERY, "zeta-9", top_k=1, score_threshold=0.4, bm25=bm25)] == [ids[1]]


def test_a_keyword_hit_outside_the_vector_candidates_gets_its_true_distance() -> None:
    crowd = [(1 + n, f"filler {n}", {"source": "filler.txt"}) for n in range(12)]
    store, ids, bm25 = build([*crowd, (150, "the kestrel protocol", {"source": "rare.txt"})])
    hits = search(store, QUERY, "kestrel", top_k=3, score_threshold=1.0, bm25=bm25)
    # Ten vector candidates (the nearest fillers); the keyword hit is none of them, yet first in BM25,
    # so it fuses level with the nearest filler, ahead of the second.
    assert {h.id for h in hits} == {ids[0], ids[1], ids[-1]}
    rare = next(h for h in hits if h.id == ids[-1])
    assert rare.matched_by == ["bm25"] and rare.rrf == pytest.approx(1 / (RRF_K + 1))
    assert rare.score == pytest.approx(1 - math.cos(math.radians(150)), abs=1e-6)
    assert hits[-1].id == ids[1]


def test_hybrid_with_an_empty_keyword_index_is_the_vector_ranking(kb) -> None:  # noqa: ANN001
    store, ids, _ = kb
    hits = search(store, QUERY, "zeta-9", top_k=5, score_threshold=1.0, bm25=Bm25Index.build([], []))
    assert [h.id for h in hits] == ids[:3]
    assert all(h.matched_by == ["vector"] for h in hits)


def test_an_empty_store_finds_nothing() -> None:
    store = FaissStore(None)
    assert search(store, QUERY, "anything", top_k=3, score_threshold=2.0) == []
    assert search(store, QUERY, "anything", top_k=3, score_threshold=2.0, bm25=Bm25Index.build([], [])) == []
