"""The backend refuses bad chat requests with clear 4xx messages; an unreachable model server is a 503."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from configs import Settings
from server.api.app import create_app
from server.launcher.harness import free_port


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    """The backend alone, pointed at an OpenAI API port where nothing listens."""
    settings = Settings(
        auth={"enabled": False},  # single-user mode: these tests are not about access
        openai_api={"port": free_port()},
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.mark.parametrize(
    "body, field",
    [
        ({"query": ""}, "query"),
        ({"query": "   \n"}, "query"),
        ({}, "query"),
        ({"query": "hi", "temperature": 3}, "temperature"),
        ({"query": "hi", "max_tokens": 0}, "max_tokens"),
        ({"query": "hi", "history": [{"role": "wizard", "content": "x"}]}, "history.0"),
        ({"query": "hi", "history_len": -5}, "history_len"),
    ],
)
def test_invalid_fields_are_named_in_a_422(client: TestClient, body: dict, field: str) -> None:
    response = client.post("/chat/chat", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == 422
    assert response.json()["msg"].startswith(field) or f"; {field}" in response.json()["msg"]


def test_every_chat_mode_refuses_a_conversation_id_it_could_not_store(client: TestClient) -> None:
    bodies = {
        "/chat/chat": {},
        "/chat/agent_chat": {},
        "/chat/knowledge_base_chat": {"knowledge_base_name": "samples"},
        "/chat/file_chat": {"knowledge_id": "x"},
        "/chat/search_engine_chat": {"search_engine_name": "searxng"},
    }
    for path, body in bodies.items():
        for bad in ("c" * 33, "../x", "a b"):  # wider than the stored id, or not an id at all
            response = client.post(path, json={"query": "hi", "conversation_id": bad, **body})
            assert response.status_code == 422, (path, bad)
            assert response.json()["msg"].startswith("conversation_id: "), (path, response.json()["msg"])


def test_unknown_prompt_template_lists_the_available_ones(client: TestClient) -> None:
    response = client.post("/chat/chat", json={"query": "hi", "prompt_name": "nope"})
    assert response.status_code == 404
    assert (
        response.json()["msg"]
        == "prompt template 'nope' does not exist for llm_chat; available: default, concise, py"
    )


@pytest.mark.parametrize("stream", [True, False])
def test_unreachable_model_server_is_a_503_within_seconds(client: TestClient, stream: bool) -> None:
    started = time.monotonic()
    response = client.post("/chat/chat", json={"query": "hi", "stream": stream})
    assert time.monotonic() - started < 10
    assert response.status_code == 503
    assert "unavailable" in response.json()["msg"]


def test_history_accepts_objects_and_chatchat_pairs() -> None:
    from server.api.schemas.chat import ChatRequest

    request = ChatRequest(query="q", history=[{"role": "user", "content": "a"}, ["assistant", "b"]])
    assert [(m.role, m.content) for m in request.history] == [("user", "a"), ("assistant", "b")]


def test_openapi_documents_the_chat_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/chat/chat"]["post"]
    assert "ChatRequest" in str(operation["requestBody"])
    assert {"404", "422", "503"} <= set(operation["responses"])
