"""Many users at once, and a user who leaves mid-answer.

The llama.cpp worker decodes concurrent requests together; each must still get exactly the
answer it gets alone, a user who leaves must give their slot back, and a forced tool call decoded
next to ordinary answers must still follow its schema.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import jsonschema
import pytest

from server.launcher.harness import RunningStack
from server.llm.cluster_auth import cluster_headers
from tests.support.tool_schemas import WEATHER_TOOL

pytestmark = pytest.mark.slow


async def one_chat(client: httpx.AsyncClient, url: str, n: int) -> list[dict]:
    body = {
        "query": f"Tell me one fact about the number {n}.",
        "stream": True,
        "temperature": 0,
        "max_tokens": 12,
    }
    events = []
    async with client.stream("POST", f"{url}/chat/chat", json=body) as response:
        if response.status_code != 200:
            raise AssertionError(f"{response.status_code}: {(await response.aread()).decode()}")
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def test_thirty_two_concurrent_streams_all_complete(stack: RunningStack) -> None:
    async def run() -> list[list[dict]]:
        async with httpx.AsyncClient(timeout=300) as client:
            return await asyncio.gather(*(one_chat(client, stack.urls.api, n) for n in range(32)))

    results = asyncio.run(run())
    assert len(results) == 32
    for events in results:
        assert events and all("text" in e and "code" not in e for e in events)
        assert "".join(e["text"] for e in events).strip()
        assert len({e["message_id"] for e in events}) == 1
    assert len({events[0]["message_id"] for events in results}) == 32


def answer_text(events: list[dict]) -> str:
    assert events and all("text" in e and "code" not in e for e in events), events
    return "".join(e["text"] for e in events)


def test_eight_concurrent_streams_each_get_the_greedy_text_they_get_alone(stack: RunningStack) -> None:
    numbers = [3, 7, 12, 19, 25, 42, 64, 99]

    async def alone() -> list[str]:
        async with httpx.AsyncClient(timeout=300) as client:
            return [answer_text(await one_chat(client, stack.urls.api, n)) for n in numbers]

    async def together() -> tuple[list[str], int]:
        # the worker answers only callers with the cluster's secret
        async with httpx.AsyncClient(timeout=300, headers=cluster_headers(stack.cluster_secret)) as client:
            task = asyncio.gather(*(one_chat(client, stack.urls.api, n) for n in numbers))
            peak = 0
            while not task.done():
                status = (await client.post(f"{stack.urls.worker}/worker_get_status")).json()
                peak = max(peak, status["running"])
                await asyncio.sleep(0.02)
            return [answer_text(events) for events in await task], peak

    solo = asyncio.run(alone())
    assert len(set(solo)) > 1
    batched, peak = asyncio.run(together())
    assert batched == solo
    assert peak >= 4, "the streams were not decoded together"


def test_a_forced_tool_call_decoded_inside_a_batch_matches_its_schema(stack: RunningStack) -> None:
    url = f"{stack.urls.openai_api}/v1/chat/completions"

    def plain(n: int) -> dict:
        return {
            "model": "smollm2",
            "messages": [{"role": "user", "content": f"Tell me one fact about the number {n}."}],
            "temperature": 0,
            "max_tokens": 24,
        }

    forced = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "temperature": 0,
        "max_tokens": 120,
    }

    async def run(bodies: list[dict]) -> list[dict]:
        async with httpx.AsyncClient(timeout=300) as client:
            responses = await asyncio.gather(*(client.post(url, json=body) for body in bodies))
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        return [r.json()["choices"][0]["message"] for r in responses]

    alone = [asyncio.run(run([plain(n)]))[0]["content"] for n in (1, 2, 3)]
    *answers, call_message = asyncio.run(run([plain(1), plain(2), plain(3), forced]))
    assert [a["content"] for a in answers] == alone
    [call] = call_message["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    jsonschema.validate(json.loads(call["function"]["arguments"]), WEATHER_TOOL["function"]["parameters"])


def test_a_client_that_leaves_stops_its_generation(stack: RunningStack) -> None:
    log = stack.log_dir / "model_worker-smollm2.log"
    before = log.read_text().count("abort after")
    with httpx.stream(
        "POST",
        f"{stack.urls.api}/chat/chat",
        timeout=60,
        json={
            "query": "Count from one to one thousand in words.",
            "stream": True,
            "max_tokens": 3000,
        },
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                break  # the user closes the tab after the first words
    deadline = time.monotonic() + 30
    while log.read_text().count("abort after") == before and time.monotonic() < deadline:
        time.sleep(0.1)
    aborted = re.findall(r"abort after (\d+) tokens", log.read_text())
    assert len(aborted) == before + 1, "the abandoned generation was not stopped"
    assert int(aborted[-1]) < 1000
    status = httpx.post(
        f"{stack.urls.worker}/worker_get_status", timeout=10, headers=cluster_headers(stack.cluster_secret)
    ).json()
    assert (status["running"], status["waiting"]) == (0, 0), "the abandoned request kept its slot"
    next_answer = httpx.post(f"{stack.urls.api}/chat/chat", json={"query": "hi", "max_tokens": 4}, timeout=60)
    assert next_answer.status_code == 200 and "text" in next_answer.text
