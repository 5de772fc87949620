"""Many users at once, and a user who leaves mid-answer."""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import pytest

from server.launcher.harness import RunningStack

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
        assert response.status_code == 200
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
    next_answer = httpx.post(f"{stack.urls.api}/chat/chat", json={"query": "hi", "max_tokens": 4}, timeout=60)
    assert next_answer.status_code == 200 and "text" in next_answer.text
