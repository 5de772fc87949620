"""Chatchat's /server and /other endpoints on the running stack."""

from __future__ import annotations

import httpx
import pytest

from server.launcher.harness import RunningStack
from tests.e2e.conftest import received_prompt

pytestmark = pytest.mark.slow


def post(stack: RunningStack, path: str, body: dict | None = None) -> httpx.Response:
    return httpx.post(f"{stack.urls.api}{path}", json=body if body is not None else {}, timeout=60)


def test_prompt_templates_by_type_and_name(stack: RunningStack) -> None:
    assert post(stack, "/server/get_prompt_template", {"type": "llm_chat", "name": "default"}).json() == (
        "{{ input }}"
    )  # the bare template, as Chatchat answers it
    missing = post(stack, "/server/get_prompt_template", {"type": "llm_chat", "name": "nope"})
    assert missing.status_code == 404 and "available: default, concise, py" in missing.json()["msg"]
    bad_type = post(stack, "/server/get_prompt_template", {"type": "poetry", "name": "default"})
    assert bad_type.status_code == 422 and bad_type.json()["msg"].startswith("type:")


def test_a_named_prompt_template_shapes_what_the_model_receives(stack: RunningStack) -> None:
    post(stack, "/chat/chat", {"query": "Why is the sky blue?", "prompt_name": "concise", "max_tokens": 4})
    assert "Answer in at most three sentences.\n\nWhy is the sky blue?" in received_prompt(
        stack, "Why is the sky blue?"
    )


def test_configs_show_models_without_secrets(stack: RunningStack) -> None:
    data = post(stack, "/server/configs").json()["data"]
    assert data["default_llm"] == "smollm2" and "smollm2" in data["llm_models"]
    assert "api_key" not in data["llm_models"]["smollm2"]
    assert data["api"]["port"] == int(stack.urls.api.rsplit(":", 1)[1])


def test_plain_completion_streams_and_matches_the_whole_answer(stack: RunningStack) -> None:
    body = {"query": "Once upon a time", "temperature": 0, "max_tokens": 16}
    streamed = post(stack, "/other/completion", {**body, "stream": True})
    whole = post(stack, "/other/completion", {**body, "stream": False})
    chunks = [line[len("data: ") :] for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert len(chunks) > 1
    assert "".join(chunks) == whole.text.split("data: ", 1)[1].strip("\r\n")
    echoed = post(stack, "/other/completion", {**body, "echo": True})
    assert "Once upon a time" in echoed.text
    assert post(stack, "/other/completion", {"query": ""}).status_code == 422


def test_prometheus_metrics_count_requests_latency_tokens_and_errors(stack: RunningStack) -> None:
    import time

    answer = post(stack, "/chat/chat", {"query": "Name a colour.", "stream": True, "max_tokens": 8})
    assert answer.status_code == 200
    assert post(stack, "/chat/chat", {"query": "hi", "model_name": "nope"}).status_code == 404

    def metrics() -> dict[str, float]:
        values = {}
        for line in httpx.get(f"{stack.urls.api}/metrics", timeout=10).text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    deadline = time.monotonic() + 10  # tokens are counted just after the answer
    while (
        metrics().get('chat_generated_tokens_total{model="smollm2"}', 0) == 0 and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    values = metrics()
    assert values['chat_generated_tokens_total{model="smollm2"}'] >= 1
    assert values['chat_time_to_first_token_seconds_count{model="smollm2"}'] >= 1
    assert values['chat_errors_total{model="nope",status="404"}'] == 1
    assert any(k.startswith("http_requests_total{") and 'handler="/chat/chat"' in k for k in values)
    assert any(k.startswith("http_request_duration_seconds_count{") for k in values)


def test_embed_texts_match_sentence_transformers_on_the_same_model(stack: RunningStack) -> None:
    from sentence_transformers import SentenceTransformer

    from server.llm.model_locator import bundled_minilm_path

    texts = ["The cat sat on the mat.", "知识库问答", "a"]
    response = post(stack, "/other/embed_texts", {"texts": texts, "embed_model": "all-minilm-l6-v2"})
    assert response.status_code == 200, response.text
    ours = response.json()["data"]
    reference = SentenceTransformer(str(bundled_minilm_path()), device="cpu").encode(
        texts, normalize_embeddings=True
    )
    for vector, expected in zip(ours, reference, strict=True):
        assert len(vector) == 384
        assert sum(a * b for a, b in zip(vector, expected, strict=True)) > 0.999

    default = post(stack, "/other/embed_texts", {"texts": ["你好"], "to_query": True}).json()["data"]
    assert len(default) == 1 and abs(sum(x * x for x in default[0]) - 1) < 1e-4
    unknown = post(stack, "/other/embed_texts", {"texts": ["x"], "embed_model": "nope"})
    assert unknown.status_code == 400 and "available: " in unknown.json()["msg"]
    assert post(stack, "/other/embed_texts", {"texts": []}).status_code == 422
