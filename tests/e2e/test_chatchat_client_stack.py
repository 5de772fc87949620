"""Chatchat 0.2.10's own client against the running stack: every chat mode, models, follow-ups.

``tests/support/chatchat_client.py`` is its ``ApiRequest`` as it ships (defaults included, so
``conversation_id`` goes out as ``null``); the session stack is single-user, as Chatchat's
clients expect. Follow-up questions are rewritten before retrieval and the rewrite is reported;
the retrieval test shows every candidate of the search a chat would run.
"""

from __future__ import annotations

import io
import json
import uuid

import httpx
import pytest

from bench.labelled_corpus import build_corpus
from server.launcher.harness import RunningStack
from tests.search_fakes import FakeInternet
from tests.support.chatchat_client import ApiRequest, check_error_msg, check_success_msg

pytestmark = pytest.mark.slow

CORPUS = build_corpus(teams_per_language=3, questions_per_language=16, seed=7)
HOME = "The wiki home page says: Chatchat keeps every knowledge base in its own folder."


@pytest.fixture(scope="module")
def chatchat(stack: RunningStack) -> ApiRequest:
    return ApiRequest(stack.urls.api)


@pytest.fixture(scope="module")
def handbooks(chatchat: ApiRequest) -> str:
    """A KB of Chatchat's shape: a wiki sub-folder beside the generated team handbooks."""
    kb = f"cc-{uuid.uuid4().hex[:8]}"
    assert chatchat.create_knowledge_base(kb)["code"] == 200
    files = [(HOME.encode(), "wiki/Home.MD"), *((t.encode(), n) for n, t in CORPUS.files.items())]
    answer = chatchat.upload_kb_docs(files, knowledge_base_name=kb)
    assert answer["code"] == 200 and answer["data"]["failed_files"] == {}, answer
    return kb


def one_event(events: list) -> dict:
    assert len(events) == 1 and isinstance(events[0], dict), events
    return events[0]


def test_llm_chat_feedback_and_models_as_chatchats_client_calls_them(chatchat: ApiRequest) -> None:
    whole = one_event(list(chatchat.chat_chat("Name a colour.", stream=False, max_tokens=8)))
    assert whole["text"] and whole["message_id"]  # conversation_id was sent as null
    streamed = [e for e in chatchat.chat_chat("Name a fruit.", max_tokens=8) if isinstance(e, dict)]
    assert streamed and "".join(e.get("text", "") for e in streamed) and streamed[0]["message_id"]
    assert chatchat.chat_feedback(whole["message_id"], 80, "fine").status_code == 200

    assert chatchat.get_default_llm_model() == ("smollm2", True)
    running = chatchat.list_running_models()
    assert running["smollm2"]["online_api"] is False and running["smollm2"]["model_path_exists"] is True
    assert check_success_msg(chatchat.change_llm_model("smollm2", "smollm2")) == "无需切换"
    assert "not-a-model" in check_error_msg(chatchat.stop_llm_model("not-a-model"))
    vectors = chatchat.embed_texts(["hello", "你好"])
    assert len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) > 100


def test_knowledge_base_file_and_search_chat(
    chatchat: ApiRequest, handbooks: str, internet: FakeInternet
) -> None:
    answer = one_event(
        list(
            chatchat.knowledge_base_chat(
                "What does the wiki home page say?", handbooks, stream=False, max_tokens=8
            )
        )
    )
    assert answer["answer"] and any("wiki/Home.MD" in doc for doc in answer["docs"]), answer["docs"]
    note = io.BytesIO(HOME.encode())
    note.name = "home.md"  # a file object: Chatchat's client sends its name
    uploaded = chatchat.upload_temp_docs([note])  # knowledge_id goes out empty
    assert uploaded["code"] == 200, uploaded
    file_answer = one_event(
        list(
            chatchat.file_chat("What does the wiki say?", uploaded["data"]["id"], stream=False, max_tokens=8)
        )
    )
    assert "own folder" in " ".join(file_answer["docs"])
    searched = one_event(
        list(chatchat.search_engine_chat("renewable energy", "searxng", stream=False, max_tokens=8))
    )
    assert searched["answer"] and searched["docs"] and internet.queries[-1]["q"] == ["renewable energy"]
    tools = list(chatchat.agent_chat("What is 17 * 23?", stream=False, max_tokens=16))
    assert tools and all(isinstance(e, dict) for e in tools)


def test_a_follow_up_is_retrieved_with_its_rewrite_and_the_rewrite_is_reported(
    stack: RunningStack, handbooks: str
) -> None:
    case = next(c for c in CORPUS.follow_ups if c["lang"] == "en")
    conversation = uuid.uuid4().hex
    body = {
        "query": case["q"],
        "knowledge_base_name": handbooks,
        "history": case["history"],
        "conversation_id": conversation,
        "top_k": 5,
        "stream": False,
        "max_tokens": 8,
    }
    response = httpx.post(f"{stack.urls.api}/chat/knowledge_base_chat", json=body, timeout=300)
    event = one_event(
        [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    )
    assert event["rewritten_query"] != case["q"] and event["rewrite_method"] in ("model", "history")
    assert case["key"] in " ".join(s["text"] for s in event["sources"]), event["rewritten_query"]
    stored = httpx.get(f"{stack.urls.api}/conversations/{conversation}/messages", timeout=30).json()["data"]
    assert stored[-1]["meta"]["rewritten_query"] == event["rewritten_query"]
    off = httpx.post(
        f"{stack.urls.api}/chat/knowledge_base_chat",
        json={**body, "rewrite_query": False, "conversation_id": ""},
        timeout=300,
    )
    assert '"rewritten_query"' not in off.text


def test_a_follow_up_search_sends_the_rewrite_to_the_engine(
    stack: RunningStack, internet: FakeInternet
) -> None:
    body = {
        "query": "How is it stored?",
        "search_engine_name": "searxng",
        "history": [
            {"role": "user", "content": "What is renewable energy?"},
            {"role": "assistant", "content": "Energy from sources that refill themselves."},
        ],
        "stream": False,
        "max_tokens": 8,
    }
    response = httpx.post(f"{stack.urls.api}/chat/search_engine_chat", json=body, timeout=300)
    assert response.status_code == 200, response.text
    rewritten = json.loads(response.text.split("data: ", 1)[1])["rewritten_query"]
    assert internet.queries[-1]["q"] == [rewritten] and rewritten != body["query"]


def test_the_retrieval_test_shows_every_candidate_and_why_it_was_dropped(
    stack: RunningStack, handbooks: str
) -> None:
    question = next(q for q in CORPUS.questions if q["lang"] == "en")
    body = {"knowledge_base_name": [handbooks], "query": question["q"], "top_k": 2}
    traced = httpx.post(f"{stack.urls.api}/knowledge_base/retrieval_test", json=body, timeout=120)
    assert traced.status_code == 200, traced.text
    result = traced.json()
    kept = [c for c in result["candidates"] if c["rank"]]
    assert [c["rank"] for c in kept] == [1, 2] and result["kept"] == 2
    assert question["key"] in kept[0]["text"] and kept[0]["ranks"]["fused"] >= 1
    assert {c["dropped_by"] for c in result["candidates"] if not c["rank"]} <= {"top_k", "score_threshold"}
    assert any(c["dropped_by"] == "top_k" for c in result["candidates"])
    searched = httpx.post(
        f"{stack.urls.api}/knowledge_base/search_docs",
        json={"knowledge_base_name": handbooks, "query": question["q"], "top_k": 2},
        timeout=120,
    ).json()
    assert [h["id"] for h in searched] == [c["id"] for c in kept]  # it explains the search the chats run
    assert set(result["timings_ms"]) >= {"embed", f"search:{handbooks}", "merge"}
    unknown = httpx.post(
        f"{stack.urls.api}/knowledge_base/retrieval_test",
        json={**body, "knowledge_base_name": ["nope"]},
        timeout=30,
    )
    assert unknown.status_code == 404
    empty = httpx.post(
        f"{stack.urls.api}/knowledge_base/retrieval_test",
        json={**body, "knowledge_base_name": []},
        timeout=30,
    )
    assert empty.status_code == 422


def test_kb_summaries_stream_progress_and_are_searchable(stack: RunningStack, handbooks: str) -> None:
    """Chatchat's tests/api/test_kb_summary_api.py, on our stack (short summaries from the small model)."""
    api = f"{stack.urls.api}/knowledge_base/kb_summary_api"
    body = {"knowledge_base_name": handbooks, "file_name": "wiki/Home.MD", "max_tokens": 24, "temperature": 0}
    with httpx.stream("POST", f"{api}/summary_file_to_vector_store", json=body, timeout=600) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert [(e["code"], e["doc"]) for e in events] == [(200, "wiki/Home.MD")], events
    found = httpx.post(
        f"{api}/search_summary",
        json={"knowledge_base_name": handbooks, "query": "wiki home page", "top_k": 1},
        timeout=60,
    ).json()
    assert found[0]["file_name"] == "wiki/Home.MD" and found[0]["summary"] and found[0]["doc_ids"]
    chunk_ids = found[0]["doc_ids"][:1]
    by_ids = httpx.post(
        f"{api}/summary_doc_ids_to_vector_store",
        json={"knowledge_base_name": handbooks, "doc_ids": chunk_ids, "max_tokens": 16},
        timeout=600,
    ).json()
    assert by_ids["code"] == 200 and by_ids["data"]["summarize"][0]["metadata"]["doc_ids"] == chunk_ids
    missing = httpx.post(
        f"{api}/summary_file_to_vector_store", json={**body, "file_name": "nope.md"}, timeout=60
    ).text
    assert '"code": 404' in missing
    unknown = httpx.post(
        f"{api}/recreate_summary_vector_store", json={"knowledge_base_name": "nope"}, timeout=60
    )
    assert unknown.status_code == 404


def test_the_retrieval_test_rewrites_a_follow_up_as_the_chat_would(
    stack: RunningStack, handbooks: str
) -> None:
    case = next(c for c in CORPUS.follow_ups if c["lang"] == "zh")
    body = {"knowledge_base_name": handbooks, "query": case["q"], "history": case["history"], "top_k": 5}
    result = httpx.post(f"{stack.urls.api}/knowledge_base/retrieval_test", json=body, timeout=300).json()
    assert result["rewritten_query"] and result["query"] == result["rewritten_query"] != case["q"]
    assert any(case["key"] in c["text"] for c in result["candidates"] if c["rank"])
