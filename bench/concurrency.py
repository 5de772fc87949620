"""Concurrent streaming /chat/chat clients against the real stack, printed as JSON.

For 1, 8 and 32 clients at once: completed and failed requests, p50/p95 time to first token
(queueing included: the llama.cpp worker decodes up to ``parallel`` requests together, the rest
wait in arrival order), and aggregate decode tok/s. Also how long a disconnected client's
generation runs on, and how long the worker takes to serve again after a SIGKILL (the launcher
restarts it). The machine's load average is reported alongside: on a shared machine the numbers
move with it.

Usage: python bench/concurrency.py [--clients 1 8 32] [--max-tokens 64] [--parallel N]
Goals (2-core CPU): at 8 clients aggregate tok/s >= 1.6x one client's and TTFT p50 <= 0.6 s;
at 32 no errors and TTFT p95 <= 3 s; serving again <= 5 s after a SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
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
                body_text = (await response.aread()).decode(errors="replace")
                retry = response.headers.get("retry-after")
                error = f"HTTP {response.status_code}" + (f" Retry-After {retry}" if retry else "")
                error += f": {body_text[:300]}"
            else:
                async for line in response.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    event = json.loads(line[6:])
                    if "code" in event:
                        error = f"event code {event['code']}: {event.get('msg', '')}"[:400]
                        break
                    first = first or time.perf_counter()
                    text += event.get("text", "")
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc!r}"[:400]
    ended = time.perf_counter()
    if error is None and first is None:
        error = "stream ended without a token"
    return {
        "ttft": (first - started) if first else None,
        "text": text,
        "error": error,
        "error_after_s": round(ended - started, 1) if error else None,
    }


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
    failed = [r for r in results if r not in ok]
    first_errors: dict[str, dict] = {}  # each distinct message once: how often, and after how long
    for r in failed:
        seen = first_errors.setdefault(r["error"], {"count": 0, "after_s": []})
        seen["count"] += 1
        seen["after_s"].append(r["error_after_s"])
    return {
        "clients": clients,
        "completed": len(ok),
        "errors": len(results) - len(ok),
        "ttft_ms_p50": round(statistics.median(ttfts), 1) if ttfts else None,
        "ttft_ms_p95": round(percentile(ttfts, 0.95), 1) if ttfts else None,
        "aggregate_tok_s": round(tokens / wall, 1),
        "wall_s": round(wall, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "first_errors": [{"message": m, **v} for m, v in list(first_errors.items())[:5]],
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


def worker_pid(log: Path) -> int:
    starts = [line for line in log.read_text().splitlines() if "starting model_worker-smollm2 (pid " in line]
    return int(starts[-1].rsplit("pid ", 1)[1].rstrip(")"))


def restart_after_kill(api: str, worker: str, log: Path, cluster_secret: str) -> dict:
    """SIGKILL the worker; seconds until it answers a generation again, directly and through /chat/chat."""
    os.kill(worker_pid(log), signal.SIGKILL)
    killed = time.perf_counter()
    body = {"model": "smollm2", "prompt": "Hello", "max_new_tokens": 2, "temperature": 0, "echo": False}
    result: dict = {}
    with httpx.Client(timeout=30, trust_env=False, headers={CLUSTER_HEADER: cluster_secret}) as client:
        while "worker_answers_s" not in result:
            try:
                frames = client.post(f"{worker}/worker_generate_stream", json=body).content.split(b"\0")
                if json.loads(frames[-2])["error_code"] == 0:
                    result["worker_answers_s"] = round(time.perf_counter() - killed, 2)
            except (httpx.HTTPError, ValueError, IndexError):
                time.sleep(0.05)
        while "chat_answers_s" not in result:
            response = client.post(f"{api}/chat/chat", json={"query": "hi", "max_tokens": 2, "stream": False})
            if response.status_code == 200 and '"text"' in response.text:
                result["chat_answers_s"] = round(time.perf_counter() - killed, 2)
            else:
                time.sleep(0.05)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--parallel", type=int, default=None, help="llm_models.smollm2.parallel (default 8)")
    args = parser.parse_args()
    env = {"CHATCHAT_LLM_MODELS__SMOLLM2__PARALLEL": str(args.parallel)} if args.parallel else {}
    from llama_cpp import Llama

    vocab = Llama(str(bundled_smollm2_path()), vocab_only=True, verbose=False)

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode(), add_bos=False, special=False))

    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="chatchat-bench-") as tmp,
        running_stack(Path(tmp), env=env) as stack,
    ):
        # one unmeasured request first: the first one after a start pays for loading and warming
        # the chain, which would make one client look slow and every level's ratio look good
        warm_up = asyncio.run(level(stack.urls.api, 1, args.max_tokens, count))
        report: dict = {
            "warm_up_ttft_ms": warm_up["ttft_ms_p50"],
            "levels": [asyncio.run(level(stack.urls.api, n, args.max_tokens, count)) for n in args.clients],
        }
        one = next((lv for lv in report["levels"] if lv["clients"] == 1), None)
        if one and one["aggregate_tok_s"]:
            for lv in report["levels"]:
                lv["vs_one_client"] = round(lv["aggregate_tok_s"] / one["aggregate_tok_s"], 2)
        report["cancel_to_idle_ms"] = round(
            asyncio.run(cancel_latency(stack.urls.api, stack.urls.worker, stack.cluster_secret)) * 1000, 1
        )
        report["restart_after_sigkill"] = restart_after_kill(
            stack.urls.api, stack.urls.worker, stack.log_dir / "startup.log", stack.cluster_secret
        )
    report["settings"] = {
        "max_tokens": args.max_tokens,
        "parallel": args.parallel or 8,
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", ""),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
