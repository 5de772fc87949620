"""Each engine against a local server speaking its real wire format; failures are clear and quick."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from configs.settings import SearchSettings
from server.api.errors import http_status
from server.launcher.harness import free_port
from server.search import EngineUnavailable, RateLimited, SearchEngines, UnknownEngine
from server.search.pages import best_passage, html_to_text
from tests.search_fakes import PAGES, FakeInternet, fake_internet


@pytest.fixture(scope="module")
def internet() -> Iterator[FakeInternet]:
    with fake_internet() as running:
        yield running


def engines_for(internet: FakeInternet, **overrides: object) -> SearchEngines:
    settings = {
        "searxng": {"base_url": internet.url},
        "duckduckgo": {"enabled": False},
        "bing": {"api_key": "k-123", "endpoint": f"{internet.url}/v7.0/search"},
        "tavily": {"api_key": "tv-1", "endpoint": f"{internet.url}/tavily/search"},
        "timeout": 3,
        "fetch_private_pages": True,  # the stand-in pages live on 127.0.0.1
        **overrides,
    }
    return SearchEngines(SearchSettings.model_validate(settings))


def search(engines: SearchEngines, name: str, query: str, top_k: int = 3, split: bool = False):
    async def run():
        try:
            engine = engines.get(name)
            results = await engine.search(query, top_k)
            if split:
                from server.search.pages import expand_results

                results = await expand_results(engines.http, engines.settings, query, results)
            return results
        finally:
            await engines.aclose()

    return asyncio.run(run())


def test_searxng_returns_the_instances_results_in_order_cut_to_top_k(internet: FakeInternet) -> None:
    results = search(engines_for(internet), "searxng", "renewable energy", top_k=3)
    expected = internet.searxng_results("renewable energy")[:3]
    assert [(r.title, r.link, r.snippet) for r in results] == [
        (e["title"], e["url"], e["content"]) for e in expected
    ]
    sent = internet.queries[-1]
    assert sent["q"] == ["renewable energy"] and sent["format"] == ["json"]


def test_bing_reads_web_pages_and_sends_the_key(internet: FakeInternet) -> None:
    results = search(engines_for(internet), "bing", "llamas", top_k=2)
    assert [r.title for r in results] == ["Bing 0 llamas", "Bing 1 llamas"]
    assert results[0].link == "https://example.org/0" and results[0].snippet == "Bing snippet 0"
    assert internet.headers[-1]["Ocp-Apim-Subscription-Key"] == "k-123"


def test_tavily_reads_results_and_sends_a_bearer_key(internet: FakeInternet) -> None:
    results = search(engines_for(internet), "tavily", "alpacas", top_k=2)
    assert [(r.title, r.snippet) for r in results] == [("Tavily 0", "T0"), ("Tavily 1", "T1")]
    assert internet.headers[-1]["Authorization"] == "Bearer tv-1"


def test_only_configured_engines_are_offered(internet: FakeInternet) -> None:
    engines = SearchEngines(SearchSettings.model_validate({"searxng": {"base_url": internet.url}}))
    assert engines.names() == ["searxng", "duckduckgo"]
    with pytest.raises(
        UnknownEngine, match="search engine 'bing' is not configured; configured engines: searxng, duckduckgo"
    ):
        engines.get("bing")
    with pytest.raises(UnknownEngine, match="unknown search engine 'altavista'"):
        engines.get("altavista")
    asyncio.run(engines.aclose())


def test_an_unreachable_engine_fails_fast_with_a_503(internet: FakeInternet) -> None:
    engines = engines_for(internet, searxng={"base_url": f"http://127.0.0.1:{free_port()}"})
    started = time.monotonic()
    with pytest.raises(EngineUnavailable, match="search engine 'searxng' is unreachable") as caught:
        search(engines, "searxng", "anything")
    assert http_status(caught.value) == 503
    assert time.monotonic() - started < 3


def test_a_rate_limited_engine_is_a_429(internet: FakeInternet) -> None:
    with pytest.raises(RateLimited, match="rate-limiting") as caught:
        search(engines_for(internet), "searxng", "ratelimit me")
    assert http_status(caught.value) == 429


def test_a_searxng_without_the_json_format_says_how_to_enable_it(internet: FakeInternet) -> None:
    engines = engines_for(internet, searxng={"base_url": f"{internet.url}/nojson"})
    with pytest.raises(EngineUnavailable, match="HTTP 403.*add 'json' to search.formats"):
        search(engines, "searxng", "anything")


def test_split_result_replaces_snippets_with_the_best_passage_of_each_page(internet: FakeInternet) -> None:
    results = search(engines_for(internet), "searxng", "Zephyrine solar farm megawatts", top_k=2, split=True)
    assert "42 megawatts" in results[0].snippet
    assert "var x" not in results[0].snippet and "Home | About" not in results[0].snippet
    assert results[1].snippet == "Wind turbines convert kinetic energy of air."


def test_a_page_that_cannot_be_read_keeps_its_snippet(internet: FakeInternet) -> None:
    from server.search import SearchResult
    from server.search.pages import expand_results

    engines = engines_for(internet)
    result = SearchResult(title="gone", link=f"{internet.url}/page/missing", snippet="kept")

    async def run():
        try:
            return await expand_results(engines.http, engines.settings, "q", [result])
        finally:
            await engines.aclose()

    assert asyncio.run(run()) == [result]


def test_html_is_reduced_to_its_readable_text() -> None:
    text = html_to_text(PAGES["solar"][1])
    assert text.startswith("Solar\nPhotovoltaic cells")
    assert "ignored" not in text
    assert best_passage("", "q", 100, 10) is None


def test_result_pages_on_the_servers_own_network_are_not_read_by_default(internet: FakeInternet) -> None:
    results = search(
        engines_for(internet, fetch_private_pages=False), "searxng", "Zephyrine solar", split=True
    )
    assert [r.snippet for r in results] == [
        r["content"] for r in internet.searxng_results("Zephyrine solar")[:3]
    ]


@pytest.mark.parametrize(
    "url, public",
    [
        ("http://127.0.0.1:8080/x", False),
        ("http://localhost/", False),
        ("http://10.1.2.3/", False),
        ("http://192.168.0.1/", False),
        ("http://169.254.169.254/latest/meta-data/", False),
        ("http://[::1]/", False),
        ("file:///etc/passwd", False),
        ("ftp://8.8.8.8/", False),
        ("https://8.8.8.8/", True),
        ("http://1.1.1.1:81/", True),
    ],
)
def test_only_public_http_addresses_count_as_public(url: str, public: bool) -> None:
    from server.search.pages import is_public_url

    assert asyncio.run(is_public_url(url)) is public


def test_redirects_are_followed_to_the_page(internet: FakeInternet) -> None:
    from server.search import SearchResult
    from server.search.pages import expand_results

    engines = engines_for(internet)
    moved = SearchResult(title="moved", link=f"{internet.url}/go/wind", snippet="old")

    async def run():
        try:
            return await expand_results(engines.http, engines.settings, "wind", [moved])
        finally:
            await engines.aclose()

    assert asyncio.run(run())[0].snippet == "Wind turbines convert kinetic energy of air."
