"""Decode speed of the model worker on an idle machine and next to a busy program, printed as JSON.

A busy program in another session (another user's job, a browser) takes a core from llama.cpp's
OpenMP team; how long its threads spin at a barrier then decides whether decoding slows a little
or collapses (see ``server/launcher/thread_env.py``). Each spin setting starts its own stack
(``--llm-api``) and measures greedy-free sampling of a fixed prompt through /worker_generate.

Usage: python bench/contention.py [--runs 3] [--max-tokens 32] [--spin 1000 300000]
(300000 is libgomp's own default; 1000 is what the launcher sets.)
Target: next to the busy program, at least a quarter of the idle speed with the launcher's setting.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.launcher.harness import running_stack  # noqa: E402
from server.llm.cluster_auth import cluster_headers  # noqa: E402

PROMPT = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"


def rate(client: httpx.Client, url: str, max_tokens: int) -> float:
    body = {
        "model": "smollm2",
        "prompt": PROMPT,
        "temperature": 0.7,
        "seed": 1,
        "max_new_tokens": max_tokens,
        "stop": [],
        "stop_token_ids": [],
        "echo": False,
    }
    start = time.perf_counter()
    response = client.post(f"{url}/worker_generate", json=body, timeout=600)
    response.raise_for_status()
    return float(response.json()["usage"]["completion_tokens"]) / (time.perf_counter() - start)


def measure(spin: str, runs: int, max_tokens: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as root,
        running_stack(Path(root), ("--llm-api",), env={"GOMP_SPINCOUNT": spin}) as stack,
    ):
        with httpx.Client(headers=cluster_headers(stack.cluster_secret), trust_env=False) as client:
            rate(client, stack.urls.worker, 4)  # warm-up
            idle = statistics.median(rate(client, stack.urls.worker, max_tokens) for _ in range(runs))
            busy_program = subprocess.Popen(
                [sys.executable, "-c", "while True: pass"], start_new_session=True
            )
            try:
                time.sleep(0.5)
                busy = statistics.median(rate(client, stack.urls.worker, max_tokens) for _ in range(runs))
            finally:
                busy_program.kill()
    return {
        "idle_tok_s": round(idle, 1),
        "busy_neighbour_tok_s": round(busy, 1),
        "ratio": round(busy / idle, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--spin", nargs="+", default=["1000", "300000"])
    args = parser.parse_args()
    results = {f"GOMP_SPINCOUNT={spin}": measure(spin, args.runs, args.max_tokens) for spin in args.spin}
    load = os.getloadavg()
    print(json.dumps({"cores": os.cpu_count(), "load_before_end": load[0], "results": results}, indent=2))


if __name__ == "__main__":
    main()
