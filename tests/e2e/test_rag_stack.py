"""Retrieval that answers, on the real stack: relevance scores, several knowledge bases at once.

A team keeps its handbooks in two knowledge bases (people facts and tech facts, as
bench/labelled_corpus.py generates them) and asks questions that need one or both.
"""

from __future__ import annotations

import pytest

from bench.labelled_corpus import build_corpus
from server.launcher.harness import RunningStack
from tests.e2e.conftest import sse_events
from tests.e2e.test_knowledge_base_stack import api, create, search

pytestmark = pytest.mark.slow

CORPUS = build_corpus(teams_per_language=3, questions_per_language=16, seed=5)


@pytest.fixture(scope="module")
def handbooks(stack: RunningStack) -> dict[str, str]:
    """Two hybrid KBs, ``rag-people`` and ``rag-tech``, holding the split handbooks."""
    names = {"people": "rag-people", "tech": "rag-tech"}
    for part, kb in names.items():
        create(stack, kb)
        files = [("files", (name, text.encode())) for name, text in CORPUS.split[part].items()]
        response = api(stack, "/knowledge_base/upload_docs", files=files, data={"knowledge_base_name": kb})
        assert response.status_code == 200 and response.json()["data"]["failed_files"] == {}, response.text
    return names


def test_every_hit_carries_a_relevance_beside_chatchats_distance(stack: RunningStack, handbooks) -> None:  # noqa: ANN001
    question = next(q for q in CORPUS.questions if q["kb"] == "tech" and q["lang"] == "en")
    hits = search(stack, handbooks["tech"], question["q"], top_k=5, hybrid=True)
    assert question["key"] in hits[0]["page_content"]
    for hit in hits:
        assert 0.0 <= hit["relevance"] <= 1.0
        assert hit["relevance"] == pytest.approx(hit["scores"]["fused"], abs=1e-6)
        assert hit["scores"]["vector"] == pytest.approx(max(0.0, 1.0 - hit["score"]), abs=1e-4)
        assert hit["knowledge_base_name"] == handbooks["tech"]
    assert [h["relevance"] for h in hits] == sorted((h["relevance"] for h in hits), reverse=True)
    # min_relevance keeps only what is at least that relevant; vector search reports the similarity
    floor = hits[1]["relevance"]
    kept = search(stack, handbooks["tech"], question["q"], top_k=5, hybrid=True, min_relevance=floor)
    assert kept and all(h["relevance"] >= floor for h in kept) and len(kept) < len(hits)
    vector = search(stack, handbooks["tech"], question["q"], top_k=3, hybrid=False)
    assert all(set(h["scores"]) >= {"vector"} and h["scores"]["fused"] is None for h in vector)
    assert [h["relevance"] for h in vector] == pytest.approx([1 - h["score"] for h in vector], abs=1e-4)


def test_a_question_spanning_two_knowledge_bases_finds_both_facts(stack: RunningStack, handbooks) -> None:  # noqa: ANN001
    both = [handbooks["people"], handbooks["tech"]]
    for case in CORPUS.two_kb[:2]:
        hits = search(stack, both, case["q"], top_k=5, hybrid=True)
        texts = [h["page_content"] for h in hits]
        assert all(any(key in t for t in texts) for key in case["keys"]), (case, texts)
        assert {h["knowledge_base_name"] for h in hits} == set(both)
    response = api(
        stack,
        "/chat/knowledge_base_chat",
        json={"query": CORPUS.two_kb[0]["q"], "knowledge_base_name": both, "return_direct": True, "top_k": 4},
    )
    sources = sse_events(response.text.splitlines())[0]["sources"]
    assert {s["knowledge_base_name"] for s in sources} == set(both)
    for source in sources:  # each citation links into its own knowledge base
        assert f"knowledge_base_name={source['knowledge_base_name']}" in source["url"]
        assert 0.0 <= source["relevance"] <= 1.0


def test_naming_an_unknown_knowledge_base_in_a_list_is_a_404_and_an_empty_list_a_422(
    stack: RunningStack,
    handbooks,  # noqa: ANN001
) -> None:
    body = {"knowledge_base_name": [handbooks["tech"], "no-such-kb"], "query": "backups"}
    response = api(stack, "/knowledge_base/search_docs", json=body)
    assert response.status_code == 404 and "no-such-kb" in response.text
    response = api(stack, "/knowledge_base/search_docs", json={**body, "knowledge_base_name": []})
    assert response.status_code == 422 and "at least one" in response.text


def test_reranking_rescores_the_fused_candidates_with_a_cross_encoder_by_path(
    stack: RunningStack,
    handbooks,  # noqa: ANN001
) -> None:
    question = next(q for q in CORPUS.questions if q["kb"] == "people")
    both = [handbooks["people"], handbooks["tech"]]
    hits = search(
        stack, both, question["q"], top_k=6, hybrid=True, rerank=True, reranker="tiny", rerank_top_n=4
    )
    assert len(hits) == 4
    assert all(h["relevance"] == h["scores"]["rerank"] and h["scores"]["fused"] is not None for h in hits)
    assert [h["relevance"] for h in hits] == sorted((h["relevance"] for h in hits), reverse=True)
    assert {h["id"] for h in hits} <= {
        h["id"] for h in search(stack, both, question["q"], top_k=20, hybrid=True)
    }
    # the backend serves the same model as a remote reranker: /v1/rerank, best first
    documents = [h["page_content"] for h in hits]
    response = api(
        stack, "/v1/rerank", json={"model": "tiny", "query": question["q"], "documents": documents[::-1]}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["relevance_score"] for r in results] == pytest.approx([h["relevance"] for h in hits], abs=1e-5)
    assert [documents[::-1][r["index"]] for r in results] == documents
    bad = api(
        stack,
        "/knowledge_base/search_docs",
        json={"knowledge_base_name": both, "query": "x", "rerank": True, "reranker": "nope"},
    )
    assert bad.status_code == 400 and "nope" in bad.text


def test_the_remote_client_reads_the_backends_rerank_endpoint(stack: RunningStack) -> None:
    import asyncio

    from configs import Settings
    from server.knowledge_base.rerank import RerankerPool

    settings = Settings(
        rerankers={
            "far": {"engine": "remote", "api_base_url": f"{stack.urls.api}/v1", "remote_model_name": "tiny"}
        }
    )
    documents = ["backups are kept 90 days", "the office is in Berlin", "who leads the team"]
    scores = asyncio.run(RerankerPool(settings).get("far").scores("how long are backups kept", documents))
    served = api(
        stack,
        "/v1/rerank",
        json={"model": "tiny", "query": "how long are backups kept", "documents": documents},
    )
    by_index = {r["index"]: r["relevance_score"] for r in served.json()["results"]}
    assert scores == pytest.approx([by_index[i] for i in range(3)], abs=1e-6)


def test_the_chat_model_can_rerank_when_no_reranker_model_is_installed(
    stack: RunningStack, handbooks
) -> None:  # noqa: ANN001
    question = next(q for q in CORPUS.questions if q["kb"] == "tech")
    hits = search(stack, handbooks["tech"], question["q"], top_k=3, rerank=True, reranker="judge")
    assert 1 <= len(hits) <= 3
    assert all(0.0 <= h["scores"]["rerank"] <= 1.0 and h["relevance"] == h["scores"]["rerank"] for h in hits)
