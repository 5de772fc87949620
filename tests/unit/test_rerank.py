"""Reranking: a tiny cross-encoder the test builds and saves itself, by path, never from a hub."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from configs import Settings
from server.core.errors import InvalidInput
from server.knowledge_base.rerank import RerankerPool, rerank, to_unit
from server.knowledge_base.retrieval import SearchHit
from tests.support.tiny_cross_encoder import build_tiny_cross_encoder

QUERY = "how long are database backups kept"
TEXTS = ["backups are kept 90 days", "the office is in Berlin", "who leads the team", "release day"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce"))


def pool(**rerankers: dict) -> RerankerPool:
    return RerankerPool(Settings(rerankers=rerankers))


def test_a_cross_encoder_by_path_scores_like_the_model_itself_and_reorders_the_hits(model_dir: Path) -> None:
    from sentence_transformers import CrossEncoder

    reranker = pool(tiny={"engine": "cross-encoder", "path": str(model_dir)}).get("tiny")
    expected = [float(s) for s in CrossEncoder(str(model_dir)).predict([(QUERY, t) for t in TEXTS])]
    scores = asyncio.run(reranker.scores(QUERY, TEXTS))
    assert scores == pytest.approx(expected, abs=1e-5) and all(0 <= s <= 1 for s in scores)
    hits = [
        SearchHit(f"c{i}", t, {}, 0.1 * i, relevance=1 - 0.1 * i, scores={"vector": 1.0})
        for i, t in enumerate(TEXTS)
    ]
    ranked = asyncio.run(rerank(reranker, QUERY, hits, top_n=3))
    order = sorted(range(len(TEXTS)), key=lambda i: -expected[i])[:3]
    assert [h.id for h in ranked] == [f"c{i}" for i in order]
    assert all(h.relevance == h.scores["rerank"] and "vector" in h.scores for h in ranked)
    floor = sorted(expected)[-2]
    assert len(asyncio.run(rerank(reranker, QUERY, hits, top_n=4, min_relevance=floor))) == 2


def test_a_reranker_that_cannot_work_says_why(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="local model directory"):
        pool(hub={"engine": "cross-encoder", "path": "BAAI/bge-reranker-base"}).get("hub")
    with pytest.raises(InvalidInput, match="not configured"):
        pool().get("nope")
    with pytest.raises(InvalidInput, match="no reranker is configured"):
        pool().get(None)
    with pytest.raises(InvalidInput, match="api_base_url"):
        pool(r={"engine": "remote"}).get("r")
    with pytest.raises(ValueError, match="kb.reranker"):
        Settings(kb={"reranker": "missing"})


def test_scores_outside_zero_to_one_are_logits_and_go_through_a_sigmoid() -> None:
    assert to_unit([0.2, 0.9]) == [0.2, 0.9]
    assert to_unit([-2.0, 0.0, 3.0]) == pytest.approx([0.1192029, 0.5, 0.9525741])
