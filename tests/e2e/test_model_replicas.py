"""Two workers of one model: a replica killed under load, and a worker that stops reporting.

With ``replicas: 2`` the launcher starts two workers of smollm2 and the controller balances
between them. When one is SIGKILLed while eight answers are on their way, the answers it had not
started go to the other replica, the ones it was streaming end with a clear error event, the
launcher restarts it, and it serves again.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import psutil
import pytest

from server.launcher.harness import RunningStack, running_stack
from server.llm.cluster_auth import cluster_headers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = {
        "CHATCHAT_LLM_MODELS__SMOLLM2__REPLICAS": "2",
        "CHATCHAT_LLM_MODELS__SMOLLM2__PARALLEL": "2",  # four answers per replica: two decode, two wait
    }
    with running_stack(tmp_path_factory.mktemp("replicas"), ("--all-api",), env=env) as stack:
        yield stack


def second_worker(stack: RunningStack) -> str:
    host, port = stack.urls.worker.rsplit(":", 1)
    return f"{host}:{int(port) + 1}"


def pid_of(stack: RunningStack, service: str) -> int:
    starts = [
        line
        for line in (stack.log_dir / "startup.log").read_text().splitlines()
        if f"starting {service} (pid " in line
    ]
    return int(starts[-1].rsplit("pid ", 1)[1].rstrip(")"))


@dataclass
class Answer:
    chunks: list[str] = field(default_factory=list)
    error: str | None = None
    finish: str | None = None


async def stream_answer(client: httpx.AsyncClient, url: str, n: int, answer: Answer) -> None:
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": f"Write a short story about a robot named R{n}."}],
        "temperature": 0,
        "max_tokens": 64,
        "stream": True,
    }
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if "error_code" in event:
                answer.error = event["text"]
                continue
            choice = event["choices"][0]
            if choice["delta"].get("content"):
                answer.chunks.append(choice["delta"]["content"])
            answer.finish = choice.get("finish_reason") or answer.finish


def test_both_replicas_register_and_share_the_answers(replicas: RunningStack) -> None:
    first, second = replicas.urls.worker, second_worker(replicas)
    for url in (first, second):
        status = httpx.post(
            f"{url}/worker_get_status", timeout=10, headers=cluster_headers(replicas.cluster_secret)
        ).json()
        assert status["model_names"] == ["smollm2"] and status["parallel"] == 2
    models = httpx.post(f"{replicas.urls.api}/llm_model/list_running_models", timeout=30).json()["data"]
    assert models["smollm2"]["status"] == "running"
    assert (models["smollm2"]["replicas"], models["smollm2"]["ready"]) == (2, 2)


def test_a_replica_killed_under_load_hands_its_waiting_answers_to_the_other(replicas: RunningStack) -> None:
    stack = replicas
    victim_url = stack.urls.worker
    victim = psutil.Process(pid_of(stack, "model_worker-smollm2"))
    answers = [Answer() for _ in range(8)]
    seen_restarting = False

    async def scenario() -> None:
        nonlocal seen_restarting
        async with httpx.AsyncClient(timeout=300, headers=cluster_headers(stack.cluster_secret)) as client:
            tasks = [
                asyncio.ensure_future(stream_answer(client, stack.urls.openai_api, n, a))
                for n, a in enumerate(answers)
            ]
            deadline = time.monotonic() + 120
            while True:  # kill once the victim streams two answers and has more waiting
                status = (await client.post(f"{victim_url}/worker_get_status")).json()
                streaming = sum(1 for a in answers if a.chunks)  # 2 slots per replica: 4 = both full
                if streaming >= 4 and status["running"] == 2 and status["waiting"] >= 1:
                    break
                assert time.monotonic() < deadline, f"the victim never filled up: {status}"
                await asyncio.sleep(0.02)
            victim.send_signal(signal.SIGKILL)
            # The restart takes at least its 1 s backoff: the model shows a replica restarting meanwhile.
            while not seen_restarting and "serves again" not in (stack.log_dir / "startup.log").read_text():
                models = (await client.post(f"{stack.urls.api}/llm_model/list_running_models")).json()["data"]
                seen_restarting = models.get("smollm2", {}).get("restarting") == 1
                await asyncio.sleep(0.05)
            await asyncio.gather(*tasks)

    asyncio.run(scenario())
    failed = [a for a in answers if a.error]
    served = [a for a in answers if not a.error]
    assert all(a.chunks for a in failed), "an answer that had not started was not handed over"
    assert all("mid-answer" in (a.error or "") for a in failed)
    assert 1 <= len(failed) <= 2  # only what the victim was decoding
    assert len(served) >= 6 and all(a.finish in ("stop", "length") and a.chunks for a in served)
    api_log = (stack.log_dir / "openai_api.log").read_text()
    assert f"worker {victim_url} failed before the first token" in api_log
    assert f"retrying on {second_worker(stack)}" in api_log

    # The launcher restarts the victim, which then serves again on its own port.
    deadline = time.monotonic() + 120
    startup_log = stack.log_dir / "startup.log"
    while "model_worker-smollm2 serves again" not in startup_log.read_text():
        assert time.monotonic() < deadline, "the killed replica was not restarted"
        time.sleep(0.2)
    text = startup_log.read_text()
    assert "model_worker-smollm2 exited with code -9; restarting it in 1s (restart 1)" in text
    assert seen_restarting, "list_running_models never showed the replica restarting"
    body = {"model": "smollm2", "prompt": "Hello", "max_new_tokens": 4, "temperature": 0, "echo": False}
    with httpx.stream(
        "POST",
        f"{victim_url}/worker_generate_stream",
        json=body,
        timeout=60,
        headers=cluster_headers(stack.cluster_secret),
    ) as response:
        frames = [json.loads(f) for f in response.read().split(b"\0") if f]
    assert frames[-1]["error_code"] == 0 and frames[-1]["usage"]["completion_tokens"] >= 1
    models = httpx.post(f"{stack.urls.api}/llm_model/list_running_models", timeout=30).json()["data"]
    assert models["smollm2"]["ready"] == 2 and models["smollm2"]["restarts"] == 1


def test_a_worker_that_stops_sending_heartbeats_leaves_the_controller_within_15_seconds(
    replicas: RunningStack,
) -> None:
    controller = replicas.urls.controller
    secret = cluster_headers(replicas.cluster_secret)  # the controller answers only the cluster
    ghost = {
        "worker_name": "http://127.0.0.1:9",
        "check_heart_beat": True,
        "worker_status": {"model_names": ["ghost"], "speed": 1, "queue_length": 0},
    }
    assert (
        httpx.post(f"{controller}/register_worker", json=ghost, timeout=10, headers=secret).status_code == 200
    )
    registered = time.monotonic()
    assert "ghost" in httpx.post(f"{controller}/list_models", timeout=10, headers=secret).json()["models"]
    while "ghost" in httpx.post(f"{controller}/list_models", timeout=10, headers=secret).json()["models"]:
        assert time.monotonic() - registered < 15, "a silent worker stayed registered"
        time.sleep(0.2)
    assert "smollm2" in httpx.post(f"{controller}/list_models", timeout=10, headers=secret).json()["models"]
