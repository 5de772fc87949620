"""The llama.cpp worker's generation contract, on the real bundled model, without HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from fastchat.conversation import get_conv_template

from server.llm.fastchat_compat import prepare_llama_worker
from server.llm.llama_cpp_worker import LlamaCppWorker, _partial_stop_length

QUESTION = "Write a long story about a lighthouse keeper and the sea."


@pytest.fixture(scope="module")
def worker(smollm2_gguf: Path) -> LlamaCppWorker:
    prepare_llama_worker()
    w = LlamaCppWorker(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "t",
        str(smollm2_gguf),
        ["smollm2"],
        register=False,
        stream_interval=0.02,
    )
    yield w
    w.close()


def prompt(question: str = QUESTION) -> str:
    conv = get_conv_template("smollm2")
    conv.append_message(conv.roles[0], question)
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


def params(**overrides) -> dict:
    return {
        "prompt": prompt(),
        "temperature": 0,
        "max_new_tokens": 24,
        "echo": False,
        "stop": ["<|im_end|>"],
        "stop_token_ids": [2, 0],
        **overrides,
    }


def run(worker: LlamaCppWorker, p: dict) -> list[dict]:
    return list(worker.generate_frames(p, threading.Event()))


def test_frames_are_cumulative_and_end_with_usage(worker: LlamaCppWorker) -> None:
    frames = run(worker, params())
    texts = [f["text"] for f in frames]
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False)), "text must only grow"
    last = frames[-1]
    assert last["error_code"] == 0 and last["finish_reason"] == "length" and last["text"].strip()
    assert last["usage"]["completion_tokens"] == 24
    assert last["usage"]["prompt_tokens"] == worker.count_token({"prompt": prompt()})["count"]
    assert all(f["finish_reason"] is None for f in frames[:-1])


def test_greedy_is_deterministic_with_and_without_cached_prefix(worker: LlamaCppWorker) -> None:
    first = run(worker, params())[-1]["text"]
    run(worker, params(prompt=prompt("Something else entirely")))
    assert run(worker, params())[-1]["text"] == first


def test_stop_string_cuts_the_text_and_never_leaks_a_prefix_of_it(worker: LlamaCppWorker) -> None:
    full = run(worker, params(max_new_tokens=48))[-1]["text"]
    word = full.split()[3]
    stop = " " + word
    frames = run(worker, params(max_new_tokens=48, stop=[stop]))
    assert frames[-1]["finish_reason"] == "stop"
    assert frames[-1]["text"] == full[: full.index(stop)]
    assert all(stop[:2] not in f["text"][len(frames[-1]["text"]) :] for f in frames)


def test_stop_token_ids_end_generation(worker: LlamaCppWorker) -> None:
    first_token = worker.tokenize(run(worker, params(max_new_tokens=1))[-1]["text"])[0]
    frames = run(worker, params(stop_token_ids=[first_token]))
    assert frames[-1]["finish_reason"] == "stop" and frames[-1]["text"] == ""


def test_echo_returns_prompt_and_answer(worker: LlamaCppWorker) -> None:
    last = run(worker, params(echo=True, max_new_tokens=4))[-1]
    assert last["text"].startswith(prompt()) and len(last["text"]) > len(prompt())


def test_prompt_longer_than_the_context_is_an_error_frame(worker: LlamaCppWorker) -> None:
    frames = run(worker, params(prompt="word " * (worker.context_len + 10)))
    assert len(frames) == 1 and frames[0]["error_code"] == 40303 and "context" in frames[0]["text"]


def test_sampling_honours_temperature_and_top_p(worker: LlamaCppWorker) -> None:
    outputs = {
        run(worker, params(temperature=1.5, top_p=1.0, seed=s, max_new_tokens=12))[-1]["text"]
        for s in range(4)
    }
    assert len(outputs) > 1
    assert (
        run(worker, params(temperature=0.9, top_p=0.9, seed=7))[-1]["text"]
        == run(worker, params(temperature=0.9, top_p=0.9, seed=7))[-1]["text"]
    )


def _evaluated(worker: LlamaCppWorker) -> int:
    """Tokens llama.cpp has run through the model so far (prompt chunks and decoded tokens)."""
    return worker.engine.evaluated_tokens


def test_cached_prefix_means_the_next_turn_evaluates_only_new_tokens(worker: LlamaCppWorker) -> None:
    context = "Background: " + "The lighthouse stands on a cliff above the northern sea. " * 40

    def evaluated_for(question: str) -> int:
        before = _evaluated(worker)
        run(worker, params(prompt=prompt(context + question), max_new_tokens=1))
        return _evaluated(worker) - before

    cold = evaluated_for("Who lives there?")
    warm = evaluated_for("What does the keeper eat?")
    assert cold > 400  # the whole context
    assert warm < 30  # only the new question and the template around it


def test_stream_coalesces_frames_and_cancels_when_the_client_leaves(
    worker: LlamaCppWorker, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> tuple[list[dict], float, dict]:
        started = time.perf_counter()
        frames = [f async for f in worker.stream(params(max_new_tokens=120))]
        elapsed = time.perf_counter() - started
        stream = worker.stream(params(max_new_tokens=4000, prompt=prompt("Count to ten thousand.")))
        await anext(stream)
        await stream.aclose()  # the HTTP client went away
        after = [f async for f in worker.stream(params(max_new_tokens=2))]
        return frames, elapsed, after[-1]

    worker.stream_interval = 0.25
    try:
        with caplog.at_level("INFO", logger="server.llm.llama_cpp_worker"):
            frames, elapsed, next_frame = asyncio.run(scenario())
    finally:
        worker.stream_interval = 0.02
    assert frames[-1]["usage"]["completion_tokens"] == 120
    # At most one frame per interval besides the first and the last, however fast the machine
    # decodes, and so far fewer frames than tokens.
    assert 1 < len(frames) <= elapsed / 0.25 + 2
    assert len(frames) < 120
    aborted = [r.getMessage() for r in caplog.records if r.getMessage().startswith("abort after")]
    assert len(aborted) == 1 and int(aborted[0].split()[2]) < 1000  # stopped, long before 4000 tokens
    assert next_frame["usage"]["completion_tokens"] == 2 and next_frame["finish_reason"] == "length"
    assert worker.get_queue_length() == 0


def test_partial_stop_length() -> None:
    assert _partial_stop_length("hello <|im", ["<|im_end|>"]) == 4
    assert _partial_stop_length("hello", ["<|im_end|>"]) == 0
    assert _partial_stop_length("ab", ["b", "abc"]) == 2


def test_the_worker_app_lists_the_prompts_it_received_only_when_asked(worker: LlamaCppWorker) -> None:
    from fastapi.testclient import TestClient

    from server.llm.worker_app import create_worker_app

    with TestClient(create_worker_app(worker, keep_prompts=2)) as client:
        for question in ("first question", "second question", "third question"):
            answer = client.post("/worker_generate", json=params(prompt=prompt(question), max_new_tokens=2))
            assert answer.json()["error_code"] == 0
        streamed = client.post("/worker_generate_stream", json=params(prompt="fourth", max_new_tokens=2))
        assert streamed.status_code == 200
        received = client.post("/debug/received_prompts").json()["prompts"]
    assert received == [prompt("third question"), "fourth"]  # the last two, exactly as sent
    with TestClient(create_worker_app(worker)) as client:
        assert client.post("/debug/received_prompts").status_code == 404
