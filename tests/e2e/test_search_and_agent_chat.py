"""A user asks questions answered from web search and by a tool-using agent, on the real stack.

The only stand-in is the internet: a local server speaking SearXNG's (and Bing's) real JSON API.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from server.launcher.harness import RunningStack, running_stack
from tests.e2e.conftest import metric, sse_events
from tests.search_fakes import FakeInternet

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def search_stack(tmp_path_factory: pytest.TempPathFactory, internet: FakeInternet) -> Iterator[RunningStack]:
    env = {
        "CHATCHAT_SEARCH__SEARXNG__BASE_URL": internet.url,
        "CHATCHAT_SEARCH__DUCKDUCKGO__ENABLED": "false",
        "CHATCHAT_SEARCH__BING__API_KEY": "test-key",
        "CHATCHAT_SEARCH__BING__ENDPOINT": f"{internet.url}/v7.0/search",
        "CHATCHAT_SEARCH__TIMEOUT": "5",
        "CHATCHAT_SEARCH__FETCH_PRIVATE_PAGES": "true",  # the stand-in result pages live on 127.0.0.1
        "CHATCHAT_AGENT__MAX_STEPS": "3",
        # generous: a loaded machine must not turn a step limit into a timeout
        "CHATCHAT_AGENT__TIME_LIMIT": "300",
        "CHATCHAT_AGENT__STEP_MAX_TOKENS": "48",
    }
    with running_stack(tmp_path_factory.mktemp("search"), ("--all-api",), env) as stack:
        yield stack


def post_events(stack: RunningStack, path: str, body: dict, timeout: float = 120) -> list[dict]:
    with httpx.stream("POST", f"{stack.urls.api}{path}", json=body, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return sse_events(response.iter_lines())


def stored_messages(stack: RunningStack, conversation_id: str) -> list[dict]:
    response = httpx.get(f"{stack.urls.api}/conversations/{conversation_id}/messages", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_configured_engines_are_listed(search_stack: RunningStack) -> None:
    response = httpx.post(f"{search_stack.urls.api}/server/list_search_engines", json={}, timeout=10)
    assert response.json()["data"] == ["searxng", "bing"]


def test_search_chat_streams_the_answer_then_the_sources_in_result_order(
    search_stack: RunningStack, internet: FakeInternet
) -> None:
    events = post_events(
        search_stack,
        "/chat/search_engine_chat",
        {
            "query": "renewable energy",
            "search_engine_name": "searxng",
            "top_k": 3,
            "stream": True,
            "temperature": 0,
            "max_tokens": 32,
        },
    )
    answers, last = events[:-1], events[-1]
    assert len(answers) > 1 and set(answers[0]) == {"answer", "message_id"}  # the id for feedback comes first
    assert all(set(e) == {"answer"} for e in answers[1:])
    assert "".join(e["answer"] for e in answers).strip()
    expected = internet.searxng_results("renewable energy")[:3]
    assert last == {
        "docs": [
            f"出处 [{n}] [{r['title']}]({r['url']}) \n\n{r['content']}\n\n"
            for n, r in enumerate(expected, start=1)
        ],
        "sources": [
            {"index": n, "title": r["title"], "url": r["url"], "text": r["content"]}
            for n, r in enumerate(expected, start=1)
        ],
    }
    assert internet.queries[-1]["q"] == ["renewable energy"]


def test_search_chat_without_streaming_sends_one_event_with_answer_and_sources(
    search_stack: RunningStack,
) -> None:
    events = post_events(
        search_stack,
        "/chat/search_engine_chat",
        {"query": "wind", "search_engine_name": "bing", "top_k": 2, "stream": False, "max_tokens": 16},
    )
    assert len(events) == 1 and events[0]["message_id"]
    assert events[0]["answer"].strip()
    assert events[0]["docs"] == [
        "出处 [1] [Bing 0 wind](https://example.org/0) \n\nBing snippet 0\n\n",
        "出处 [2] [Bing 1 wind](https://example.org/1) \n\nBing snippet 1\n\n",
    ]
    assert [(s["index"], s["title"], s["url"]) for s in events[0]["sources"]] == [
        (1, "Bing 0 wind", "https://example.org/0"),
        (2, "Bing 1 wind", "https://example.org/1"),
    ]


def test_split_result_puts_the_pages_best_passage_into_the_sources(search_stack: RunningStack) -> None:
    events = post_events(
        search_stack,
        "/chat/search_engine_chat",
        {
            "query": "Zephyrine solar farm megawatts",
            "search_engine_name": "searxng",
            "top_k": 1,
            "stream": True,
            "split_result": True,
            "max_tokens": 8,
        },
    )
    docs = events[-1]["docs"]
    assert len(docs) == 1 and "The Zephyrine solar farm produces 42 megawatts on average." in docs[0]


def test_an_unknown_engine_is_refused_naming_the_configured_ones(search_stack: RunningStack) -> None:
    response = httpx.post(
        f"{search_stack.urls.api}/chat/search_engine_chat",
        timeout=10,
        json={"query": "x", "search_engine_name": "duckduckgo"},
    )
    assert response.status_code == 400
    assert (
        response.json()["msg"]
        == "search engine 'duckduckgo' is not configured; configured engines: searxng, bing"
    )


def test_a_search_answer_is_kept_in_its_conversation_with_its_sources(
    search_stack: RunningStack, internet: FakeInternet
) -> None:
    observed = metric(search_stack, "chat_time_to_first_token_seconds_count", model="smollm2")
    events = post_events(
        search_stack,
        "/chat/search_engine_chat",
        {
            "query": "tidal power",
            "search_engine_name": "searxng",
            "top_k": 2,
            "stream": True,
            "temperature": 0,
            "max_tokens": 24,
            "conversation_id": "search-story",
        },
    )
    answers, last = events[:-1], events[-1]

    [stored] = stored_messages(search_stack, "search-story")
    assert stored["id"] == events[0]["message_id"]
    assert (stored["chat_type"], stored["model_name"]) == ("search_engine_chat", "smollm2")
    assert stored["response"] == "".join(e["answer"] for e in answers)
    assert (stored["meta"]["docs"], stored["meta"]["sources"]) == (last["docs"], last["sources"])
    assert metric(search_stack, "chat_time_to_first_token_seconds_count", model="smollm2") == observed + 1

    export = httpx.get(f"{search_stack.urls.api}/conversations/search-story/export", timeout=30).text
    results = internet.searxng_results("tidal power")[:2]
    assert "Sources:" in export
    for n, result in enumerate(results, start=1):
        assert f"- [{n}] [{result['title']}]({result['url']})" in export


# ---- agent chat on the bundled model -----------------------------------------------------------
# SmolLM2-135M rarely follows ReAct; what must hold is the shape and the termination of every run.

TOOL_NAMES = {"calculator", "current_datetime", "unit_conversion", "web_search", "knowledge_base_search"}
AGENT_QUESTIONS = ["What is 17 * 23?", "What day is it today?", "Search the web for renewable energy news"]


def assert_well_formed_run(events: list[dict], max_steps: int = 3) -> None:
    *body, last = events
    assert body[0]["message_id"] and all("message_id" not in e for e in events[1:])  # the first event only
    assert set(last) == {"final_answer"} and last["final_answer"].strip()
    steps = [e for e in body if "tools" in e]
    answers = [e for e in body if "answer" in e]
    assert len(steps) + len(answers) == len(body), body  # nothing but steps and answer chunks before the end
    assert len(steps) <= max_steps
    for n, event in enumerate(steps, start=1):
        step = event["step"]
        assert step["index"] == n
        assert event["tools"] == [
            f"工具名称: {step['tool'] if step['tool'] is not None else '(invalid call)'}",
            f"工具状态: {'调用成功' if step['ok'] else '调用失败'}",
            f"工具输入: {step['input']}",
            f"工具输出: {step['output']}",
        ]
        if step["tool"] is None:
            assert step["output"].startswith("Invalid format: ")
        elif step["tool"] not in TOOL_NAMES:
            assert step["output"].startswith(f"Unknown tool {step['tool']!r}. Available tools: calculator, ")
    assert answers, "the answer is streamed before the final answer"
    if len(steps) == max_steps:
        assert last["final_answer"].startswith(f"Stopped after {max_steps} steps without a final answer.")
    else:
        assert "".join(a["answer"] for a in answers).strip() == last["final_answer"].strip() or last[
            "final_answer"
        ] in "".join(a["answer"] for a in answers)


@pytest.mark.parametrize("question", AGENT_QUESTIONS)
def test_agent_runs_end_with_a_final_answer_within_the_step_limit(
    search_stack: RunningStack, question: str
) -> None:
    events = post_events(
        search_stack, "/chat/agent_chat", {"query": question, "stream": True, "temperature": 0}
    )
    assert_well_formed_run(events)


def test_a_model_that_names_no_real_tool_is_told_the_tools_and_stopped_at_the_step_limit(
    search_stack: RunningStack,
) -> None:
    # At temperature 0 the bundled model answers this with 'Action: I will now answer the question'
    # every time; each step tells it which tools exist, and the third step ends the run.
    events = post_events(
        search_stack,
        "/chat/agent_chat",
        {"query": "Convert 10 km to miles", "stream": True, "temperature": 0},
    )
    steps = [e["step"] for e in events if "tools" in e]
    assert len(steps) == 3 and all(not s["ok"] for s in steps)
    assert (
        "Available tools: calculator, current_datetime, unit_conversion, web_search, knowledge_base_search."
        in steps[0]["output"]
    )
    assert events[-1] == {"final_answer": "Stopped after 3 steps without a final answer."}


def test_agent_without_streaming_sends_one_event(search_stack: RunningStack) -> None:
    events = post_events(
        search_stack, "/chat/agent_chat", {"query": "What is 2 + 2?", "stream": False, "temperature": 0}
    )
    assert len(events) == 1 and set(events[0]) == {"tools", "answer", "final_answer", "message_id"}
    assert events[0]["final_answer"].strip()


def test_an_agent_run_is_kept_with_its_steps_and_final_answer_and_can_be_rated(
    search_stack: RunningStack,
) -> None:
    observed = metric(search_stack, "chat_time_to_first_token_seconds_count", model="smollm2")
    events = post_events(
        search_stack,
        "/chat/agent_chat",
        {
            "query": "Convert 10 km to miles",
            "stream": True,
            "temperature": 0,
            "conversation_id": "agent-story",
        },
    )
    steps = [e["step"] for e in events if "tools" in e]

    [stored] = stored_messages(search_stack, "agent-story")
    assert stored["id"] == events[0]["message_id"]
    assert (stored["chat_type"], stored["model_name"]) == ("agent_chat", "smollm2")
    assert stored["response"] == stored["meta"]["final_answer"] == events[-1]["final_answer"]
    assert [{k: v for k, v in step.items() if v is not None} for step in stored["meta"]["tools"]] == steps
    assert metric(search_stack, "chat_time_to_first_token_seconds_count", model="smollm2") == observed + 1

    rated = httpx.post(
        f"{search_stack.urls.api}/chat/feedback",
        timeout=30,
        json={"message_id": stored["id"], "score": 0, "reason": "never found the tool"},
    )
    assert rated.json()["code"] == 200
    [after] = stored_messages(search_stack, "agent-story")
    assert (after["feedback_score"], after["feedback_reason"]) == (0, "never found the tool")

    export = httpx.get(f"{search_stack.urls.api}/conversations/agent-story/export", timeout=30).text
    assert stored["response"] in export
    if steps:
        assert "Tools used:" in export
        for n, step in enumerate(steps, start=1):
            assert f"{n}. {step.get('tool') or '(invalid call)'}" in export


def test_an_agent_without_streaming_is_kept_too(search_stack: RunningStack) -> None:
    [event] = post_events(
        search_stack,
        "/chat/agent_chat",
        {"query": "What is 2 + 2?", "stream": False, "temperature": 0, "conversation_id": "agent-whole"},
    )
    [stored] = stored_messages(search_stack, "agent-whole")
    assert (stored["id"], stored["response"]) == (event["message_id"], event["final_answer"])
    assert len(stored["meta"]["tools"]) * 4 == len(event["tools"])  # four lines per step on the wire


def test_a_model_failure_is_stored_and_counted_by_status(search_stack: RunningStack) -> None:
    failures = metric(search_stack, "chat_errors_total", model="gpt-9", status="404")
    response = httpx.post(
        f"{search_stack.urls.api}/chat/agent_chat",
        timeout=30,
        json={"query": "hi", "model_name": "gpt-9", "conversation_id": "agent-failed"},
    )
    assert response.status_code == 404
    [stored] = stored_messages(search_stack, "agent-failed")
    assert stored["response"] == "" and stored["meta"]["error"] == response.json()["msg"]
    assert metric(search_stack, "chat_errors_total", model="gpt-9", status="404") == failures + 1


def test_agent_refuses_an_unknown_model_or_template_before_streaming(search_stack: RunningStack) -> None:
    url = f"{search_stack.urls.api}/chat/agent_chat"
    unknown_model = httpx.post(url, json={"query": "hi", "model_name": "gpt-9"}, timeout=30)
    assert unknown_model.status_code == 404
    assert unknown_model.json()["msg"] == "model 'gpt-9' is not running; available models: smollm2"
    unknown_prompt = httpx.post(url, json={"query": "hi", "prompt_name": "nope"}, timeout=30)
    assert unknown_prompt.status_code == 404
    assert (
        unknown_prompt.json()["msg"]
        == "prompt template 'nope' does not exist for agent_chat; available: default, native"
    )


def test_the_time_limit_ends_a_run_with_a_clear_final_answer(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = {"CHATCHAT_AGENT__TIME_LIMIT": "0.3", "CHATCHAT_SEARCH__DUCKDUCKGO__ENABLED": "false"}
    with running_stack(tmp_path_factory.mktemp("agent-time"), ("--all-api",), env) as stack:
        started = time.monotonic()
        events = post_events(
            stack,
            "/chat/agent_chat",
            {"query": "Write a long story about a dragon.", "stream": True, "max_tokens": 2000},
        )
        elapsed = time.monotonic() - started
    message = "Stopped: the time limit of 0.3 s was reached before a final answer."
    assert events[-1] == {"final_answer": message} and events[-2]["answer"] == message
    assert set(events[-2]) <= {"answer", "message_id"}  # the first event of a run carries its id
    assert elapsed < 10
