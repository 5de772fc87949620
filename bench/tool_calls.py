"""What OpenAI tool calling costs on the bundled model, printed as JSON.

One stack (controller, llama.cpp worker, API server); the same question, greedy, asked as:
  plain        no tools (FastChat's own path)
  auto         two tools offered, tool_choice auto (Hermes prompt, reply read for calls)
  forced       tool_choice names a function (decoding constrained to the call's JSON schema)

For each: median wall time of the whole request, completion tokens, tokens/s, and how often the
answer held a tool call whose arguments parse. The tools make the prompt longer (prefill) and a
grammar costs some time per token; this shows how much.

Then what one MCP tool call costs the agent, apart from the model: the test server
(``tests/mcp_server.py``, the official SDK) over stdio and over streamable HTTP on 127.0.0.1,
its ``add`` tool called through the agent's tool wrapper; p50 and p90 of the call, and the
time to connect (start the process or open the session, list the tools).

Usage: python bench/tool_calls.py [--runs 5] [--mcp-calls 200] [--mcp-only]
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


def measure_mcp(entry: dict, calls: int) -> dict:
    """Connect to one MCP server and time ``calls`` calls of its ``add`` tool through the agent's wrapper."""
    from configs.settings import McpServerSettings
    from server.agent.mcp.registry import McpRegistry
    from server.agent.toolbox import run_tool

    async def scenario() -> dict:
        registry = McpRegistry([McpServerSettings.model_validate(entry)], None, 2000)
        started = time.perf_counter()
        await registry.start([])
        tools = {t.name: t for t in await registry.tools(None)}
        connect = time.perf_counter() - started
        add = tools[f"{entry['name']}__add"]
        timings = []
        try:
            for n in range(calls + 5):
                begun = time.perf_counter()
                output, ok = await run_tool(add, {"a": n, "b": 1}, 2000)
                if not ok:
                    raise RuntimeError(output)
                if n >= 5:  # the first calls warm the session up
                    timings.append(time.perf_counter() - begun)
        finally:
            await registry.stop()
        timings.sort()
        return {
            "connect_s": round(connect, 3),
            "call_ms_p50": round(statistics.median(timings) * 1000, 2),
            "call_ms_p90": round(timings[int(len(timings) * 0.9)] * 1000, 2),
            "calls": calls,
        }

    return asyncio.run(scenario())


def mcp_overhead(calls: int) -> dict:
    from tests.support.mcp_servers import http_server, stdio_entry

    results = {"stdio": measure_mcp(stdio_entry("bench"), calls)}
    with http_server() as url:
        results["streamable_http"] = measure_mcp(
            {"name": "bench", "transport": "streamable-http", "url": url}, calls
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mcp-calls", type=int, default=200)
    parser.add_argument("--mcp-only", action="store_true", help="only the MCP call overhead (no model)")
    args = parser.parse_args()
    report: dict = {"model": MODEL, "runs": args.runs}
    if not args.mcp_only:
        with tempfile.TemporaryDirectory() as root, running_stack(Path(root), ("--llm-api",)) as stack:
            url = f"{stack.urls.openai_api}/v1/chat/completions"
            report["results"] = {name: measure(url, extra, args.runs) for name, extra in VARIANTS.items()}
    report["mcp"] = mcp_overhead(args.mcp_calls)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
