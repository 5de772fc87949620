"""What OpenAI tool calling costs on the bundled model, printed as JSON.

One stack (controller, llama.cpp worker, API server); the same question, greedy, asked as:
  plain        no tools (FastChat's own path)
  auto         two tools offered, tool_choice auto (Hermes prompt, reply read for calls)
  forced       tool_choice names a function (decoding constrained to the call's JSON schema)

For each: median wall time of the whole request, completion tokens, tokens/s, and how often the
answer held a tool call whose arguments parse. The tools make the prompt longer (prefill) and a
grammar costs some time per token; this shows how much.

Usage: python bench/tool_calls.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.launcher.harness import running_stack  # noqa: E402

MODEL = "smollm2"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "required": ["city", "unit"],
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
        },
    },
}
CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    },
}
VARIANTS = {
    "plain": {},
    "auto": {"tools": [WEATHER, CALCULATOR], "tool_choice": "auto"},
    "forced": {
        "tools": [WEATHER, CALCULATOR],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    },
}


def valid_call(message: dict) -> bool:
    calls = message.get("tool_calls") or []
    try:
        return bool(calls) and all(isinstance(json.loads(c["function"]["arguments"]), dict) for c in calls)
    except (ValueError, KeyError, TypeError):
        return False


def measure(url: str, extra: dict, runs: int) -> dict:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "temperature": 0,
        "max_tokens": 64,
        **extra,
    }
    httpx.post(url, json=body, timeout=300).raise_for_status()  # warm the prompt cache
    walls, tokens, calls = [], [], 0
    for _ in range(runs):
        started = time.perf_counter()
        answer = httpx.post(url, json=body, timeout=300).json()
        walls.append(time.perf_counter() - started)
        tokens.append(answer["usage"]["completion_tokens"])
        calls += valid_call(answer["choices"][0]["message"])
    wall = statistics.median(walls)
    return {
        "wall_s_p50": round(wall, 3),
        "completion_tokens": statistics.median(tokens),
        "tokens_per_s": round(statistics.median(tokens) / wall, 1),
        "valid_tool_calls": f"{calls}/{runs}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root, running_stack(Path(root), ("--llm-api",)) as stack:
        url = f"{stack.urls.openai_api}/v1/chat/completions"
        results = {name: measure(url, extra, args.runs) for name, extra in VARIANTS.items()}
    print(json.dumps({"model": MODEL, "runs": args.runs, "results": results}, indent=2))


if __name__ == "__main__":
    main()
