"""The retrieval test page and the sources under an answer show relevance a person can read."""

from __future__ import annotations

from webui.retrieval_table import fate, rows, summary
from webui.sources import _doc_markdown

RESULT = {
    "top_k": 1,
    "score_threshold": 1.0,
    "min_relevance": 0.0,
    "fusion": "weighted",
    "hybrid": {"handbook": True},
    "reranker": None,
    "kept": 1,
    "candidates": [
        {
            "rank": 1,
            "dropped_by": None,
            "knowledge_base_name": "handbook",
            "file_name": "wiki/Home.MD",
            "score": 0.21,
            "relevance": 0.83,
            "scores": {"vector": 0.79, "keyword": 1.0, "fused": 0.83},
            "ranks": {"vector": 2, "keyword": 1, "fused": 1, "merged": 1},
            "start": 0,
            "end": 57,
        },
        {
            "rank": None,
            "dropped_by": "score_threshold",
            "knowledge_base_name": "handbook",
            "file_name": "moon.md",
            "score": 1.2,
            "relevance": 0.0,
            "scores": {"vector": 0.0, "fused": 0.0},
            "ranks": {"vector": 5, "fused": 5},
        },
    ],
}


def test_each_candidate_says_its_fate_and_its_rank_at_each_stage() -> None:
    first, second = rows(RESULT)
    assert first["result"] == "kept #1" and first["file"] == "wiki/Home.MD" and first["span"] == "0–57"
    assert first["vector"] == "#2 (0.790)" and first["keyword"] == "#1 (1.000)" and first["merged"] == "#1"
    assert first["rerank"] == "–" and first["relevance"] == "0.830"
    assert second["result"] == "dropped: farther than score_threshold" and second["keyword"] == "–"
    assert fate({"rank": None, "dropped_by": "rerank_top_n"}) == "dropped: reranked out (rerank_top_n)"
    assert summary(RESULT).startswith("1 kept of 2 candidates · top_k 1") and "handbook: hybrid" in summary(
        RESULT
    )


def test_a_cited_source_shows_its_relevance_beside_the_distance() -> None:
    source = {"file_name": "a.md", "text": "chunk", "score": 0.25, "relevance": 0.8125}
    assert "relevance 0.81 (distance 0.250)" in _doc_markdown(1, source, links=False)
    assert "score 0.250" in _doc_markdown(1, {"file_name": "a.md", "score": 0.25}, links=False)
