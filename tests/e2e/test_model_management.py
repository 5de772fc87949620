"""Switching and stopping models through the backend, while someone else is mid-answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.launcher.harness import RunningStack, running_stack
from tests.e2e.conftest import sse_events

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_model_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = {"CHATCHAT_LLM_MODELS__SMOLLM2B__PATH": "bundled"}  # a second model, same weights
    with running_stack(tmp_path_factory.mktemp("models"), ("--all-api",), env=env) as stack:
        yield stack


def post(stack: RunningStack, path: str, body: dict | None = None) -> httpx.Response:
    return httpx.post(f"{stack.urls.api}{path}", json=body or {}, timeout=120)


def test_configured_and_running_models(two_model_stack: RunningStack) -> None:
    configured = post(two_model_stack, "/llm_model/list_config_models").json()["data"]
    assert set(configured["local"]) == {"smollm2", "smollm2b"} and configured["online"] == {}
    running = post(two_model_stack, "/llm_model/list_running_models").json()["data"]
    assert list(running) == ["smollm2"] and running["smollm2"]["engine"] == "llama.cpp"
    config = post(two_model_stack, "/llm_model/get_model_config", {"model_name": "smollm2b"})
    assert config.json()["data"]["path"] == "bundled"
    unknown = post(two_model_stack, "/llm_model/get_model_config", {"model_name": "nope"})
    assert unknown.status_code == 404 and "configured: smollm2, smollm2b" in unknown.json()["msg"]


def test_change_keeps_a_running_answer_alive_then_stop(two_model_stack: RunningStack) -> None:
    stack = two_model_stack
    answer: dict = {}
    first_event = threading.Event()

    def long_answer() -> None:
        with httpx.stream(
            "POST",
            f"{stack.urls.api}/chat/chat",
            timeout=120,
            json={
                "query": "Write a long story about the sea.",
                "stream": True,
                "temperature": 0,
                "max_tokens": 400,
                "model_name": "smollm2",
            },
        ) as response:
            lines = []
            for line in response.iter_lines():
                lines.append(line)
                first_event.set()
            answer["events"] = sse_events(lines)

    reader = threading.Thread(target=long_answer)
    reader.start()
    assert first_event.wait(30)
    changed = post(stack, "/llm_model/change", {"model_name": "smollm2", "new_model_name": "smollm2b"})
    assert changed.status_code == 200, changed.text
    reader.join(120)

    events = answer["events"]
    assert all("text" in e for e in events), f"the answer in flight was cut off: {events[-1]}"
    check = httpx.post(
        f"{stack.urls.openai_api}/api/v1/token_check",
        timeout=10,
        json={
            "prompts": [{"model": "smollm2b", "prompt": "".join(e["text"] for e in events), "max_tokens": 0}]
        },
    )
    assert check.json()["prompts"][0]["tokenCount"] > 300  # all ~400 tokens arrived (re-tokenised)

    running = post(stack, "/llm_model/list_running_models").json()["data"]
    assert list(running) == ["smollm2b"]
    ok = post(stack, "/chat/chat", {"query": "hi", "model_name": "smollm2b", "max_tokens": 4})
    assert ok.status_code == 200 and sse_events(ok.text.splitlines())[0]["text"]
    gone = post(stack, "/chat/chat", {"query": "hi", "model_name": "smollm2", "max_tokens": 4})
    assert gone.status_code == 404 and "available models: smollm2b" in gone.json()["msg"]

    stopped = post(stack, "/llm_model/stop", {"model_name": "smollm2b"})
    assert stopped.status_code == 200
    assert post(stack, "/llm_model/list_running_models").json()["data"] == {}
    again = post(stack, "/llm_model/stop", {"model_name": "smollm2b"})
    assert again.status_code == 400 and "not running" in again.json()["msg"]
    back = post(stack, "/llm_model/change", {"model_name": "", "new_model_name": "smollm2"})
    assert back.status_code == 200
    assert list(post(stack, "/llm_model/list_running_models").json()["data"]) == ["smollm2"]


def test_a_model_that_fails_to_start_is_reported_and_nothing_else_changes(tmp_path: Path) -> None:
    env = {"CHATCHAT_LLM_MODELS__BROKEN__PATH": str(tmp_path / "missing.gguf")}
    with running_stack(tmp_path / "stack", ("--all-api",), env=env) as stack:
        response = post(stack, "/llm_model/change", {"model_name": "smollm2", "new_model_name": "broken"})
        assert response.status_code == 503
        assert (
            "could not start 'broken'" in response.json()["msg"]
            and "model_worker-broken.log" in response.json()["msg"]
        )
        assert list(post(stack, "/llm_model/list_running_models").json()["data"]) == ["smollm2"]
        assert stack.process.poll() is None  # the launcher is still up
