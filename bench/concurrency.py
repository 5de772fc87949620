"""Concurrent streaming /chat/chat clients against the real stack, printed as JSON.

For 1, 8 and 32 clients at once: completed and failed requests, p50/p95 time to first token
(queueing included: one llama.cpp context serves requests one after another, in arrival
order), and aggregate decode tok/s. Also how long a disconnected client's generation runs on.

Usage: python bench/concurrency.py [--clients 1 8 32] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.launcher.harness import running_stack  # noqa: E402
from server.llm.cluster_auth import HEADER as CLUSTER_HEADER  # noqa: E402
from server.llm.model_locator import bundled_smollm2_path  # noqa: E402


async def client_run(client: httpx.AsyncClient, url: str, index: int, max_tokens: int) -> dict:
    body = {
        "query": f"Write a short story about a robot named R{index}.",
        "stream": True,
        "temperature": 0.7,
        "max_tokens": max_tokens,
    }
    started = time.perf_counter()
    first = None
    text = ""
    error = None
    try:
        async with client.stream("POST", f"{url}/chat/chat", json=body) as response:
            if response.status_code != 200:
                error = f"HTTP {response.status_code}"
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                if "code" in event:
                    error = event["msg"]
                    break
                first = first or time.perf_counter()
                text += event.get("text", "")
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return {"ttft": (first - started) if first else None, "text": text, "error": error}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def level(url: str, clients: int, max_tokens: int, count) -> dict:
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=clients + 4)) as client:
        started = time.perf_counter()
        results = await asyncio.gather(*(client_run(client, url, i, max_tokens) for i in range(clients)))
        wall = time.perf_counter() - started
    ok = [r for r in results if r["error"] is None and r["ttft"] is not None]
    ttfts = [r["ttft"] * 1000 for r in ok]
    tokens = sum(count(r["text"]) for r in ok)
    return {
        "clients": clients,
        "completed": len(ok),
        "errors": len(results) - len(ok),
        "ttft_ms_p50": round(statistics.median(ttfts), 1) if ttfts else None,
        "ttft_ms_p95": round(percentile(ttfts, 0.95), 1) if ttfts else None,
        "aggregate_tok_s": round(tokens / wall, 1),
        "wall_s": round(wall, 2),
    }


async def cancel_latency(url: str, worker: str, cluster_secret: str) -> float:
    """Seconds from a client closing its stream to the worker having nothing in flight."""
    async with httpx.AsyncClient(timeout=60, headers={CLUSTER_HEADER: cluster_secret}) as client:
        async with client.stream(
            "POST",
            f"{url}/chat/chat",
            json={
                "query": "Count to one thousand.",
                "stream": True,
                "max_tokens": 3000,
            },
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    break
        closed = time.perf_counter()
        while (await client.post(f"{worker}/worker_get_status")).json()["queue_length"] > 0:
            await asyncio.sleep(0.01)
        return time.perf_counter() - closed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    from llama_cpp import Llama

    vocab = Llama(str(bundled_smollm2_path()), vocab_only=True, verbose=False)

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode(), add_bos=False, special=False))

    with tempfile.TemporaryDirectory(prefix="chatchat-bench-") as tmp, running_stack(Path(tmp)) as stack:
        report = {
            "levels": [asyncio.run(level(stack.urls.api, n, args.max_tokens, count)) for n in args.clients]
        }
        report["cancel_to_idle_ms"] = round(
            asyncio.run(cancel_latency(stack.urls.api, stack.urls.worker, stack.cluster_secret)) * 1000, 1
        )
    report["settings"] = {"max_tokens": args.max_tokens}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
