"""The OpenAI-compatible embedder against a local endpoint speaking OpenAI's wire format.

It retries what a retry can fix, and what still fails is a clear 502 or 503 that carries the
endpoint's own message, through the REST API too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from configs import Settings
from server.api.app import create_app
from server.api.errors import http_status
from server.core.errors import Unavailable, UpstreamError
from server.knowledge_base.embeddings import EmbeddingPool, OpenAIEmbedder, normalise
from server.launcher.harness import free_port
from tests.support.openai_fake import FakeOpenAI, fake_openai, fake_vector


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeOpenAI]:
    with fake_openai() as running:
        yield running


def embedder(base_url: str, model: str) -> Any:
    config = {"engine": "openai", "api_base_url": base_url, "api_key": "sk-test", "remote_model_name": model}
    settings = Settings(embed_models={"remote": config}, default_embed_model="remote")
    return EmbeddingPool(settings).get("remote")


def test_texts_come_back_in_order_normalised(endpoint: FakeOpenAI) -> None:
    texts = ["The cat sat on the mat.", "知识库问答", "a"]
    vectors = embedder(endpoint.url, "text-embedding-fake").embed_documents(texts)
    assert np.allclose(vectors, normalise(np.array([fake_vector(t) for t in texts])), atol=1e-6)
    sent = endpoint.requests[-1]
    assert sent["input"] == texts and sent["model"] == "text-embedding-fake"
    assert sent["encoding_format"] == "float"  # servers without base64 support understand it
    assert endpoint.authorizations[-1] == "Bearer sk-test"


def test_a_transient_server_error_is_retried(endpoint: FakeOpenAI) -> None:
    before = len(endpoint.requests)
    vector = embedder(endpoint.url, "flaky").embed_query("hello")
    assert np.allclose(vector, normalise(np.array(fake_vector("hello")))[0], atol=1e-6)
    assert len(endpoint.requests) - before == 2  # a 500, then the answer


def test_an_overloaded_endpoint_is_a_503_after_the_retries(endpoint: FakeOpenAI) -> None:
    before = len(endpoint.requests)
    with pytest.raises(Unavailable, match="answered HTTP 503: the engine is overloaded") as caught:
        embedder(endpoint.url, "down").embed_query("hello")
    assert http_status(caught.value) == 503
    assert len(endpoint.requests) - before == 1 + OpenAIEmbedder.MAX_RETRIES


def test_a_refused_key_is_a_502_with_the_endpoints_message_and_no_retry(endpoint: FakeOpenAI) -> None:
    before = len(endpoint.requests)
    with pytest.raises(UpstreamError, match="HTTP 401: Incorrect API key provided") as caught:
        embedder(endpoint.url, "locked").embed_documents(["x"])
    assert http_status(caught.value) == 502
    assert "sk-test" not in caught.value.message
    assert len(endpoint.requests) - before == 1


def test_an_answer_missing_embeddings_is_a_502(endpoint: FakeOpenAI) -> None:
    with pytest.raises(UpstreamError, match="answered 2 embeddings for 3 texts"):
        embedder(endpoint.url, "short").embed_documents(["a", "b", "c"])


def test_an_unreachable_endpoint_is_a_503_within_seconds() -> None:
    started = time.monotonic()
    with pytest.raises(Unavailable, match="is unreachable"):
        embedder(f"http://127.0.0.1:{free_port()}/v1", "text-embedding-fake").embed_query("hello")
    assert time.monotonic() - started < 15


def test_a_slow_endpoint_times_out_as_a_503(endpoint: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OpenAIEmbedder, "TIMEOUT_S", 0.5)
    monkeypatch.setattr(OpenAIEmbedder, "MAX_RETRIES", 0)
    started = time.monotonic()
    with pytest.raises(Unavailable, match="is unreachable: Request timed out"):
        embedder(endpoint.url, "slow").embed_query("hello")
    assert time.monotonic() - started < endpoint.slow_s


def test_the_rest_api_answers_the_endpoints_failure_in_chatchats_envelope(
    endpoint: FakeOpenAI, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        openai_api={"port": free_port()},
        kb={"samples_kb": None},
        auth={"enabled": False},
        default_embed_model="remote-down",
        embed_models={
            "remote-down": {"engine": "openai", "api_base_url": endpoint.url, "remote_model_name": "down"},
            "remote-locked": {
                "engine": "openai",
                "api_base_url": endpoint.url,
                "remote_model_name": "locked",
            },
        },
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        for kb, model, status, words in [
            ("overloaded", "remote-down", 503, "the engine is overloaded"),
            ("refused", "remote-locked", 502, "Incorrect API key provided"),
        ]:
            created = client.post(
                "/knowledge_base/create_knowledge_base",
                json={"knowledge_base_name": kb, "embed_model": model},
            )
            assert created.json()["code"] == 200, created.text
            found = client.post(
                "/knowledge_base/search_docs", json={"knowledge_base_name": kb, "query": "hi"}
            )
            assert found.status_code == status, found.text
            assert found.json()["code"] == status and words in found.json()["msg"]
