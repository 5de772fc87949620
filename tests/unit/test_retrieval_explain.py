"""The retrieval test explains the very search the chats run: same winners, every loser labelled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.knowledge_base.catalog import KbSummary
from server.knowledge_base.explain import describe, explain
from server.knowledge_base.service import wants_rerank
from tests.support.kb_service import KbHarness
from tests.support.tiny_cross_encoder import build_tiny_cross_encoder

HANDBOOK = {
    "amber.md": "# Amber Falcon\n\nThe Amber Falcon team stores its data in PostgreSQL.\n\n"
    "The Amber Falcon on-call rotation changes every week.",
    "cobalt.md": "# Cobalt Heron\n\nThe Cobalt Heron team stores its data in MongoDB.\n\n"
    "Cobalt Heron ships a release every Tuesday.",
    "moon.md": "The moon orbits the earth once in about twenty-seven days.",
}
PEOPLE = {"people.md": "Mei Lin leads the Amber Falcon team and hires its engineers."}


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("explain")
    tiny = build_tiny_cross_encoder(root / "tiny")
    loop = asyncio.new_event_loop()
    kb = KbHarness(
        root,
        rerankers={"tiny": {"engine": "cross-encoder", "path": str(tiny)}},
        kb={"samples_kb": None, "reranker": "tiny"},  # the default reranker; kb.rerank stays off
    )
    loop.run_until_complete(kb.__aenter__())
    for name, files in (("handbook", HANDBOOK), ("people", PEOPLE)):
        loop.run_until_complete(kb.service.create(name, hybrid=True))
        for file_name, text in files.items():
            loop.run_until_complete(kb.add(name, file_name, text))
    yield kb, loop
    loop.run_until_complete(kb.__aexit__(None, None, None))
    loop.close()


CASES = [
    {"kb_names": ["handbook"], "top_k": 2, "score_threshold": 1.0},
    {"kb_names": ["handbook"], "top_k": 3, "score_threshold": 2.0, "hybrid": False},
    {"kb_names": ["handbook", "people"], "top_k": 3, "score_threshold": 2.0},
    {"kb_names": ["handbook"], "top_k": 3, "score_threshold": 2.0, "min_relevance": 0.5},
    {
        "kb_names": ["handbook", "people"],
        "top_k": 3,
        "score_threshold": 2.0,
        "rerank": True,
        "reranker": "tiny",
    },
    {
        "kb_names": ["handbook"],
        "top_k": 3,
        "score_threshold": 2.0,
        "rerank": True,
        "reranker": "tiny",
        "rerank_top_n": 1,
    },
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_the_kept_chunks_are_exactly_what_search_many_returns(harness: Any, case: dict[str, Any]) -> None:
    kb, loop = harness
    query = "Where does the Amber Falcon team store its data?"
    names = case.pop("kb_names")
    explained = loop.run_until_complete(explain(kb.service, names, query, **case))
    searched = loop.run_until_complete(kb.service.search_many(names, query, **case))
    assert [(h.kb, h.id) for h in explained.kept] == [(h.kb, h.id) for h in searched]
    assert [round(h.relevance, 6) for h in explained.kept] == [round(h.relevance, 6) for h in searched]
    for candidate in explained.candidates:  # every candidate is either in the result or says why not
        assert (candidate.rank is None) == (candidate.dropped_by is not None)


def test_every_stage_is_ranked_and_every_drop_is_named(harness: Any) -> None:
    kb, loop = harness
    query = "Where does the Amber Falcon team store its data?"
    explained = loop.run_until_complete(
        explain(kb.service, ["handbook", "people"], query, top_k=1, score_threshold=0.9)
    )
    top = describe(explained.candidates[0])
    assert top["rank"] == 1 and top["file_name"] == "amber.md" and "PostgreSQL" in top["text"]
    assert top["ranks"]["merged"] == 1 and {"vector", "fused"} <= set(top["ranks"])
    assert isinstance(top["start"], int) and top["end"] > top["start"]  # its character span
    reasons = {c.dropped_by for c in explained.candidates if c.rank is None}
    assert "top_k" in reasons and "score_threshold" in reasons  # the moon is too far
    moon = next(c for c in explained.candidates if c.hit.metadata.get("source") == "moon.md")
    assert moon.dropped_by == "score_threshold" and moon.hit.kb == "handbook"
    assert set(explained.timings_ms) >= {"embed", "search:handbook", "search:people", "merge"}
    assert explained.hybrid == {"handbook": True, "people": True}


def test_min_relevance_and_rerank_top_n_are_named(harness: Any) -> None:
    kb, loop = harness
    query = "Amber Falcon data"
    strict = loop.run_until_complete(
        explain(kb.service, ["handbook"], query, top_k=5, score_threshold=2.0, min_relevance=0.99)
    )
    assert strict.kept == [] and {c.dropped_by for c in strict.candidates} == {"min_relevance"}
    reranked = loop.run_until_complete(
        explain(
            kb.service,
            ["handbook"],
            query,
            top_k=3,
            score_threshold=2.0,
            rerank=True,
            reranker="tiny",
            rerank_top_n=1,
        )
    )
    assert len(reranked.kept) == 1 and reranked.reranker == "tiny"
    assert all("rerank" in c.ranks for c in reranked.candidates if c.dropped_by == "rerank_top_n")
    assert any(c.dropped_by == "rerank_top_n" for c in reranked.candidates)
    assert "rerank" in reranked.timings_ms


def test_a_knowledge_base_may_rerank_by_default_and_a_request_still_decides(harness: Any) -> None:
    kb, loop = harness
    query = "Who hires the engineers?"
    loop.run_until_complete(kb.service.update_info("people", "", rerank=True))
    try:
        assert loop.run_until_complete(kb.service.get("people")).rerank is True
        reranked = loop.run_until_complete(
            kb.service.search_many(["people"], query, top_k=1, score_threshold=2.0)
        )
        assert reranked and reranked[0].scores.get("rerank") is not None
        explained = loop.run_until_complete(
            explain(kb.service, ["people"], query, top_k=1, score_threshold=2.0)
        )
        assert explained.reranker == "tiny"
        plain = loop.run_until_complete(
            kb.service.search_many(["people"], query, top_k=1, score_threshold=2.0, rerank=False)
        )
        assert plain[0].scores.get("rerank") is None
    finally:
        loop.run_until_complete(kb.service.update_info("people", "", rerank=False))


def test_which_reranking_choice_wins() -> None:
    def kb(rerank: bool | None) -> KbSummary:
        return KbSummary("k", "", "faiss", "m", True, 0, None, rerank=rerank)

    assert wants_rerank(None, [kb(None)], default=False) is False
    assert wants_rerank(None, [kb(None)], default=True) is True
    assert wants_rerank(None, [kb(True), kb(False)], default=False) is True  # any KB that reranks
    assert wants_rerank(None, [kb(False)], default=True) is False  # the KB's own choice beats the default
    assert wants_rerank(False, [kb(True)], default=True) is False  # the request beats both
