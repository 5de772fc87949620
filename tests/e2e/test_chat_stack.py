"""A user's first minutes: start the stack, talk to the model through /v1 and /chat/chat."""

from __future__ import annotations

import time

import httpx
import pytest
from fastchat.constants import ErrorCode
from openai import OpenAI

from server.launcher.harness import RunningStack, free_port
from server.llm.cluster_auth import HEADER as CLUSTER_HEADER
from tests.e2e.conftest import received_prompt, sse_events

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"


def chat(stack: RunningStack, **body) -> httpx.Response:
    return httpx.post(f"{stack.urls.api}/chat/chat", json={"query": QUESTION, **body}, timeout=60)


def test_openai_client_lists_models_and_streams_a_completion(stack: RunningStack) -> None:
    client = OpenAI(base_url=f"{stack.urls.openai_api}/v1", api_key="EMPTY")
    assert [m.id for m in client.models.list().data] == ["smollm2"]
    stream = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        max_tokens=16,
        temperature=0,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].choices[0].finish_reason == "length"


def test_chat_streams_text_events_with_one_message_id(stack: RunningStack) -> None:
    with httpx.stream(
        "POST",
        f"{stack.urls.api}/chat/chat",
        timeout=60,
        json={"query": QUESTION, "stream": True, "max_tokens": 40},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.iter_lines())
    assert len(events) > 1
    assert {tuple(sorted(e)) for e in events} == {("message_id", "text")}
    assert len({e["message_id"] for e in events}) == 1
    assert "".join(e["text"] for e in events).strip()


def test_streamed_and_whole_answers_are_identical_at_temperature_zero(stack: RunningStack) -> None:
    streamed = sse_events(chat(stack, stream=True, temperature=0, max_tokens=48).text.splitlines())
    whole = sse_events(chat(stack, stream=False, temperature=0, max_tokens=48).text.splitlines())
    assert len(whole) == 1
    assert "".join(e["text"] for e in streamed) == whole[0]["text"]
    assert whole[0]["text"].strip()


def test_history_is_part_of_the_prompt(stack: RunningStack) -> None:
    history = [
        {"role": "user", "content": "My name is Zorblax."},
        {"role": "assistant", "content": "Hello Zorblax!"},
    ]
    answered = chat(stack, query="What is my name?", history=history, temperature=0, max_tokens=8)
    assert answered.status_code == 200, answered.text
    prompt = received_prompt(stack, "Hello Zorblax!")
    turns = [prompt.index(text) for text in ("My name is Zorblax.", "Hello Zorblax!", "What is my name?")]
    assert turns == sorted(turns), prompt

    alone = chat(stack, query="What is my name?", temperature=0, max_tokens=8)
    assert alone.status_code == 200, alone.text
    assert "Zorblax" not in received_prompt(stack, "What is my name?")


def test_unknown_model_is_a_404_that_names_the_running_ones(stack: RunningStack) -> None:
    response = chat(stack, model_name="gpt-9")
    assert response.status_code == 404
    assert response.json()["msg"] == "model 'gpt-9' is not running; available models: smollm2"


def ghost_is_unknown_to_the_api_server(stack: RunningStack) -> bool:
    response = httpx.post(
        f"{stack.urls.openai_api}/v1/chat/completions",
        json={"model": "ghost", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
        timeout=10,
    )
    return response.status_code == 400 and response.json().get("code") == ErrorCode.INVALID_MODEL


def test_a_dead_worker_is_a_503_within_seconds(stack: RunningStack) -> None:
    """A worker the controller still lists but which no longer answers."""
    dead = f"http://127.0.0.1:{free_port()}"
    status = {"model_names": ["ghost"], "speed": 1, "queue_length": 0}
    registered = httpx.post(
        f"{stack.urls.controller}/register_worker",
        timeout=5,
        json={"worker_name": dead, "check_heart_beat": False, "worker_status": status, "multimodal": False},
        headers={CLUSTER_HEADER: stack.cluster_secret},
    )
    assert registered.status_code == 200
    # The API server reads the controller's model list at most once a second: wait until it knows
    # the new model. (Asking the backend would not do: its 404 refreshes every worker, which drops it.)
    deadline = time.monotonic() + 10
    while ghost_is_unknown_to_the_api_server(stack) and time.monotonic() < deadline:
        time.sleep(0.1)
    for stream in (True, False):
        started = time.monotonic()
        response = chat(stack, model_name="ghost", stream=stream)
        assert time.monotonic() - started < 10
        assert response.status_code == 503, response.text
        assert "ghost" in response.json()["msg"]


def test_the_web_ui_is_served(stack: RunningStack) -> None:
    assert httpx.get(f"{stack.urls.webui}/_stcore/health", timeout=10).text == "ok"
    assert "<title>" in httpx.get(stack.urls.webui, timeout=10).text


def test_every_service_logs_in_one_format_to_its_own_file(stack: RunningStack) -> None:
    chat(stack, max_tokens=4)
    files = {p.name for p in stack.log_dir.glob("*.log")}
    assert {
        "startup.log",
        "controller.log",
        "model_worker-smollm2.log",
        "openai_api.log",
        "api.log",
        "webui.log",
    } <= files
    for name in ("controller", "model_worker-smollm2", "openai_api", "api", "webui"):
        lines = (stack.log_dir / f"{name}.log").read_text().splitlines()
        assert lines, f"{name}.log is empty"
        fields = lines[0].split(" | ")
        assert (
            fields[1] == name and ".py:" in fields[2] and fields[3] in ("DEBUG", "INFO", "WARNING", "ERROR")
        )
    assert "Register a new worker" in (stack.log_dir / "controller.log").read_text()  # FastChat's own logger
    assert "POST /chat/chat" in (stack.log_dir / "api.log").read_text()  # uvicorn's access log
