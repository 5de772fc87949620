"""Search-engine chat refuses what it cannot do with a clear status, before the model is asked."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from configs import Settings
from server.api.app import create_app
from server.launcher.harness import free_port
from tests.search_fakes import FakeInternet, fake_internet


@pytest.fixture(scope="module")
def internet() -> Iterator[FakeInternet]:
    with fake_internet() as running:
        yield running


def client_for(tmp_path, **search: object) -> TestClient:
    """The backend alone; no model server listens, so only failures before the model are observable."""
    settings = Settings(
        auth={"enabled": False},  # single-user mode: these tests are not about access
        openai_api={"port": free_port()},
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        search={"duckduckgo": {"enabled": False}, "timeout": 3, **search},
    )
    return TestClient(create_app(settings), base_url="http://127.0.0.1")


def ask(client: TestClient, **body: object):
    return client.post(
        "/chat/search_engine_chat",
        json={"query": "solar power", "search_engine_name": "searxng", "stream": True, **body},
    )


def test_the_configured_engines_are_listed_default_first(tmp_path, internet: FakeInternet) -> None:
    with client_for(
        tmp_path,
        searxng={"base_url": internet.url},
        default_engine="bing",
        bing={"api_key": "k", "endpoint": f"{internet.url}/v7.0/search"},
    ) as client:
        response = client.post("/server/list_search_engines", json={})
    assert response.json() == {"code": 200, "msg": "success", "data": ["bing", "searxng"]}


def test_an_unknown_engine_is_a_400_listing_the_configured_ones(tmp_path, internet: FakeInternet) -> None:
    with client_for(tmp_path, searxng={"base_url": internet.url}) as client:
        response = ask(client, search_engine_name="altavista")
        unconfigured = ask(client, search_engine_name="bing")
    assert response.status_code == 400
    assert response.json()["msg"] == "unknown search engine 'altavista'; configured engines: searxng"
    assert unconfigured.status_code == 400
    assert unconfigured.json()["msg"] == "search engine 'bing' is not configured; configured engines: searxng"


def test_an_engine_that_is_down_is_a_503_within_seconds(tmp_path) -> None:
    with client_for(tmp_path, searxng={"base_url": f"http://127.0.0.1:{free_port()}"}) as client:
        for stream in (True, False):
            started = time.monotonic()
            response = ask(client, stream=stream)
            assert time.monotonic() - started < 3
            assert response.status_code == 503
            assert response.json()["msg"].startswith(
                "search engine 'searxng' is unreachable at http://127.0.0.1:"
            )


def test_a_rate_limited_engine_is_a_429(tmp_path, internet: FakeInternet) -> None:
    with client_for(tmp_path, searxng={"base_url": internet.url}) as client:
        response = ask(client, query="ratelimit")
    assert response.status_code == 429
    assert "rate-limiting" in response.json()["msg"]


def test_an_unknown_prompt_template_is_a_404_naming_the_available_ones(
    tmp_path, internet: FakeInternet
) -> None:
    with client_for(tmp_path, searxng={"base_url": internet.url}) as client:
        response = ask(client, prompt_name="poem")
    assert response.status_code == 404
    assert (
        response.json()["msg"] == "prompt template 'poem' does not exist for search_engine_chat; "
        "available: default, search"
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"top_k": 0}, "top_k"),
        ({"query": " "}, "query"),
        ({"search_engine_name": None}, "search_engine_name"),
    ],
)
def test_invalid_fields_are_named_in_a_422(tmp_path, internet: FakeInternet, body: dict, field: str) -> None:
    with client_for(tmp_path, searxng={"base_url": internet.url}) as client:
        response = ask(client, **body)
    assert response.status_code == 422
    assert response.json()["msg"].startswith(field)


def test_the_model_server_being_down_is_a_503_after_the_search(tmp_path, internet: FakeInternet) -> None:
    with client_for(tmp_path, searxng={"base_url": internet.url}) as client:
        response = ask(client)
    assert response.status_code == 503
    assert "unavailable" in response.json()["msg"]


def test_the_sources_are_stored_structured_and_the_export_reads_them(
    tmp_path, internet: FakeInternet
) -> None:
    """Even when the model then fails, the question is stored with what the search found."""
    with client_for(tmp_path, searxng={"base_url": internet.url}) as client:
        assert ask(client, conversation_id="searched", top_k=2).status_code == 503
        [stored] = client.get("/conversations/searched/messages").json()["data"]
        export = client.get("/conversations/searched/export").text
    expected = internet.searxng_results("solar power")[:2]
    assert stored["meta"]["sources"] == [
        {"index": n, "title": r["title"], "url": r["url"], "text": r["content"]}
        for n, r in enumerate(expected, start=1)
    ]
    assert stored["meta"]["docs"] == [
        f"出处 [{n}] [{r['title']}]({r['url']}) \n\n{r['content']}\n\n"
        for n, r in enumerate(expected, start=1)
    ]
    for n, r in enumerate(expected, start=1):
        assert f"- [{n}] [{r['title']}]({r['url']})" in export
