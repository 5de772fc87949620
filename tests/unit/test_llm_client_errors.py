"""How a model's failures reach the client: the status, what the message says, when to retry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import openai
from fastapi.testclient import TestClient

from configs import Settings
from server.api.errors import ServiceUnavailable, http_headers, http_status
from server.api.services.llm_client import LLMClient


def test_a_model_that_sends_nothing_within_request_timeout_is_a_503_that_says_busy_and_when_to_retry() -> (
    None
):
    """What 32 streams at once on a loaded machine got: the queued ones waited past request_timeout.

    That is overload, not a fault: the message names the setting and the remedies, and the 503
    carries Retry-After (in a stream already answering it is the error event's message).
    """
    settings = Settings(request_timeout=600)
    client = LLMClient(settings)
    timeout = openai.APITimeoutError(request=httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions"))
    try:
        error = asyncio.run(client._translate(timeout, "smollm2"))
    finally:
        asyncio.run(client.aclose())
    assert isinstance(error, ServiceUnavailable)
    assert http_status(error) == 503
    assert "600 s (request_timeout)" in error.message and "busy" in error.message
    assert http_headers(error) == {"Retry-After": "30"}


def test_an_unreachable_api_server_is_a_503_without_retry_after(tmp_path: Path) -> None:
    """Nothing is running: no point in telling the client when to come back."""
    from server.api.app import create_app
    from server.launcher.harness import free_port

    settings = Settings(
        openai_api={"port": free_port()},
        auth={"enabled": False},
        kb={"samples_kb": None},
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as http:
        response = http.post("/chat/chat", json={"query": "hi", "stream": False, "max_tokens": 2})
    assert response.status_code == 503
    assert "retry-after" not in response.headers
