"""A user asks questions answered from web search and by a tool-using agent, on the real stack.

The only stand-in is the internet: a local server speaking SearXNG's (and Bing's) real JSON API.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from server.launcher.harness import RunningStack, running_stack
from tests.e2e.conftest import sse_events
from tests.search_fakes import FakeInternet, fake_internet

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def internet() -> Iterator[FakeInternet]:
    with fake_internet() as running:
        yield running


@pytest.fixture(scope="module")
def search_stack(tmp_path_factory: pytest.TempPathFactory, internet: FakeInternet) -> Iterator[RunningStack]:
    env = {
        "CHATCHAT_SEARCH__SEARXNG__BASE_URL": internet.url,
        "CHATCHAT_SEARCH__DUCKDUCKGO__ENABLED": "false",
        "CHATCHAT_SEARCH__BING__API_KEY": "test-key",
        "CHATCHAT_SEARCH__BING__ENDPOINT": f"{internet.url}/v7.0/search",
        "CHATCHAT_SEARCH__TIMEOUT": "5",
        "CHATCHAT_AGENT__MAX_STEPS": "3",
        "CHATCHAT_AGENT__TIME_LIMIT": "60",
        "CHATCHAT_AGENT__STEP_MAX_TOKENS": "64",
    }
    with running_stack(tmp_path_factory.mktemp("search"), ("--all-api",), env) as stack:
        yield stack


def post_events(stack: RunningStack, path: str, body: dict, timeout: float = 120) -> list[dict]:
    with httpx.stream("POST", f"{stack.urls.api}{path}", json=body, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return sse_events(response.iter_lines())


def test_configured_engines_are_listed(search_stack: RunningStack) -> None:
    response = httpx.post(f"{search_stack.urls.api}/server/list_search_engines", json={}, timeout=10)
    assert response.json()["data"] == ["searxng", "bing"]


def test_search_chat_streams_the_answer_then_the_sources_in_result_order(
    search_stack: RunningStack, internet: FakeInternet
) -> None:
    events = post_events(search_stack, "/chat/search_engine_chat", {
        "query": "renewable energy", "search_engine_name": "searxng", "top_k": 3, "stream": True,
        "temperature": 0, "max_tokens": 32})
    answers, last = events[:-1], events[-1]
    assert len(answers) > 1 and all(set(e) == {"answer"} for e in answers)
    assert "".join(e["answer"] for e in answers).strip()
    expected = internet.searxng_results("renewable energy")[:3]
    assert last == {"docs": [f"出处 [{n}] [{r['title']}]({r['url']})\n\n{r['content']}"
                             for n, r in enumerate(expected, start=1)]}
    assert internet.queries[-1]["q"] == ["renewable energy"]


def test_search_chat_without_streaming_sends_one_event_with_answer_and_sources(search_stack: RunningStack) -> None:
    events = post_events(search_stack, "/chat/search_engine_chat", {
        "query": "wind", "search_engine_name": "bing", "top_k": 2, "stream": False, "max_tokens": 16})
    assert len(events) == 1
    assert events[0]["answer"].strip()
    assert events[0]["docs"] == ["出处 [1] [Bing 0 wind](https://example.org/0)\n\nBing snippet 0",
                                 "出处 [2] [Bing 1 wind](https://example.org/1)\n\nBing snippet 1"]


def test_split_result_puts_the_pages_best_passage_into_the_sources(search_stack: RunningStack) -> None:
    events = post_events(search_stack, "/chat/search_engine_chat", {
        "query": "Zephyrine solar farm megawatts", "search_engine_name": "searxng", "top_k": 1, "stream": True,
        "split_result": True, "max_tokens": 8})
    docs = events[-1]["docs"]
    assert len(docs) == 1 and "The Zephyrine solar farm produces 42 megawatts on average." in docs[0]


def test_an_unknown_engine_is_refused_naming_the_configured_ones(search_stack: RunningStack) -> None:
    response = httpx.post(f"{search_stack.urls.api}/chat/search_engine_chat", timeout=10,
                          json={"query": "x", "search_engine_name": "duckduckgo"})
    assert response.status_code == 400
    assert response.json()["msg"] == "search engine 'duckduckgo' is not configured; configured engines: searxng, bing"
