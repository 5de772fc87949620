"""Continuous batching in the llama.cpp worker, on the real bundled model, without HTTP.

The promise: a request decoded next to others gives exactly what it gives alone (and what
llama-cpp-python's own unbatched ``Llama.generate`` gives with the same flash-attention setting),
cancelled requests free their slot at once, waiting requests start in arrival order, and a
grammar binds only the request that has it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest
from fastchat.conversation import get_conv_template

from server.llm.fastchat_compat import prepare_llama_worker
from server.llm.llama_cpp_worker import LlamaCppWorker

TOKENS = 20


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
        parallel=8,
        context_length=1024,
        stream_interval=0.02,
    )
    yield w
    w.close()


def prompt(question: str) -> str:
    conv = get_conv_template("smollm2")
    conv.append_message(conv.roles[0], question)
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


def params(question: str, **overrides) -> dict:
    return {
        "prompt": prompt(question),
        "temperature": 0,
        "max_new_tokens": TOKENS,
        "echo": False,
        "stop": ["<|im_end|>"],
        "stop_token_ids": [2, 0],
        **overrides,
    }


def alone(worker: LlamaCppWorker, p: dict) -> dict:
    return list(worker.generate_frames(p, threading.Event()))[-1]


async def together(worker: LlamaCppWorker, requests: list[dict]) -> list[dict]:
    async def one(p: dict) -> dict:
        frames = [f async for f in worker.stream(p)]
        return frames[-1]

    return await asyncio.gather(*(one(p) for p in requests))


# Same-length prompts and prompts of different lengths: both are prefilled together.
QUESTIONS = [f"Tell me one fact about the number {n}." for n in (0, 1, 2, 3, 42, 1999, 25, 64)]


def test_eight_concurrent_requests_give_the_same_greedy_text_as_each_alone(worker: LlamaCppWorker) -> None:
    solo = [alone(worker, params(q))["text"] for q in QUESTIONS]
    assert len(set(solo)) > 1, "the prompts must lead to different answers"
    peak = {"busy": 0}

    async def scenario() -> list[dict]:
        task = asyncio.ensure_future(together(worker, [params(q) for q in QUESTIONS]))
        while not task.done():
            peak["busy"] = max(peak["busy"], worker.engine.load()[0])
            await asyncio.sleep(0.005)
        return await task

    batched = asyncio.run(scenario())
    assert [f["text"] for f in batched] == solo
    assert all(f["finish_reason"] in ("stop", "length") for f in batched)
    assert peak["busy"] >= 4, "the requests did not decode together"


def test_batched_greedy_text_matches_llama_cpp_pythons_unbatched_generate(
    worker: LlamaCppWorker, smollm2_gguf: Path
) -> None:
    from llama_cpp import Llama

    reference = Llama(model_path=str(smollm2_gguf), n_ctx=8192, n_threads=2, flash_attn=True, verbose=False)
    expected = []
    for question in QUESTIONS[:3]:
        ids = reference.tokenize(prompt(question).encode(), add_bos=False, special=True)
        out: list[int] = []
        for token in reference.generate(ids, temp=0.0, top_p=1.0, top_k=0, min_p=0.0, repeat_penalty=1.0):
            if token == reference.token_eos() or len(out) == TOKENS:
                break
            out.append(token)
        expected.append(reference.detokenize(out).decode("utf-8", errors="replace"))
    reference.close()
    batched = asyncio.run(together(worker, [params(q) for q in QUESTIONS[:3]] + [params(QUESTIONS[5])]))
    assert [f["text"] for f in batched[:3]] == expected


def test_a_request_joining_a_running_batch_is_unchanged_and_the_others_keep_going(
    worker: LlamaCppWorker,
) -> None:
    long_alone = alone(worker, params("Write a poem about the sea.", max_new_tokens=60))["text"]
    late_alone = alone(worker, params("Name three colours."))["text"]

    async def scenario() -> tuple[dict, dict]:
        first = asyncio.ensure_future(
            together(worker, [params("Write a poem about the sea.", max_new_tokens=60)])
        )
        while worker.engine.load()[0] == 0:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.2)  # the first is decoding when the second arrives
        second = await together(worker, [params("Name three colours.")])
        return (await first)[0], second[0]

    long_batched, late_batched = asyncio.run(scenario())
    assert long_batched["text"] == long_alone
    assert late_batched["text"] == late_alone


def test_a_cancelled_request_frees_its_slot_for_a_waiting_one(smollm2_gguf: Path) -> None:
    w = LlamaCppWorker(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "t",
        str(smollm2_gguf),
        ["smollm2"],
        register=False,
        parallel=1,
        context_length=1024,
    )
    try:

        async def scenario() -> tuple[dict, float]:
            hog = w.stream(params("Count from one to one thousand.", max_new_tokens=900))
            await anext(hog)  # the only slot is taken
            waiting = asyncio.ensure_future(together(w, [params("Say hello.", max_new_tokens=3)]))
            deadline = time.monotonic() + 60  # its prompt is tokenised in a thread first
            while w.engine.load() != (1, 1) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert w.engine.load() == (1, 1), "the second request should wait for the slot"
            left = time.perf_counter()
            await hog.aclose()  # the first client leaves
            answer = (await waiting)[0]
            return answer, time.perf_counter() - left

        answer, _ = asyncio.run(scenario())
        assert answer["error_code"] == 0 and answer["usage"]["completion_tokens"] >= 1
        assert w.engine.load() == (0, 0)
    finally:
        w.close()


def test_waiting_requests_start_in_arrival_order(
    smollm2_gguf: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = LlamaCppWorker(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "t",
        str(smollm2_gguf),
        ["smollm2"],
        register=False,
        parallel=2,
        context_length=1024,
    )
    # Prompt lengths tell the requests apart in the worker's "generating: N prompt tokens" lines.
    requests = [params("Say" + " really" * n + " hello.", max_new_tokens=4) for n in range(6)]
    lengths = [len(w.tokenize(r["prompt"])) for r in requests]
    assert len(set(lengths)) == 6

    async def scenario() -> None:
        tasks = []
        for request in requests:
            tasks.append(asyncio.ensure_future(together(w, [request])))
            while w.call_ct < len(tasks):
                await asyncio.sleep(0.001)  # each is queued before the next is sent
        await asyncio.gather(*tasks)

    try:
        with caplog.at_level("INFO", logger="server.llm.llama_cpp_worker"):
            asyncio.run(scenario())
    finally:
        w.close()
    started = [
        int(r.getMessage().split()[1]) for r in caplog.records if r.getMessage().startswith("generating:")
    ]
    assert started == lengths


def test_a_grammar_binds_only_its_own_request_in_a_batch(worker: LlamaCppWorker) -> None:
    schema = {  # what the API server sends for a forced call (server.llm.tool_calls.forced_call_schema)
        "type": "object",
        "properties": {
            "name": {"const": "calculator"},
            "arguments": {
                "type": "object",
                "properties": {"expression": {"type": "string"}},
                "required": ["expression"],
                "additionalProperties": False,
            },
        },
        "required": ["name", "arguments"],
    }
    free_alone = [alone(worker, params(q))["text"] for q in QUESTIONS[:3]]
    forced = params("What is 2 + 2? Use the calculator.", json_schema=schema, max_new_tokens=120)
    results = asyncio.run(together(worker, [params(q) for q in QUESTIONS[:3]] + [forced]))
    assert [r["text"] for r in results[:3]] == free_alone
    call = json.loads(results[3]["text"])
    assert call["name"] == "calculator" and list(call["arguments"]) == ["expression"]
    assert isinstance(call["arguments"]["expression"], str)


def test_the_status_reports_slots_and_the_queue(worker: LlamaCppWorker) -> None:
    status = worker.get_status()
    assert status["parallel"] == 8 and status["running"] == 0 and status["waiting"] == 0
    assert status["queue_length"] == 0 and status["model_names"] == ["smollm2"]
