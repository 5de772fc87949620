"""Decode speed and time to first token along the serving chain, printed as JSON.

Paths, measured in one run on the same GGUF, prompt and greedy settings:
  in_process   llama.cpp called directly in this process (the ceiling)
  worker       POST /worker_generate_stream on the model worker
  openai_api   POST /v1/chat/completions (stream) on FastChat's API server
  chat_chat    POST /chat/chat (stream) on the backend

Usage: python bench/chain.py [--runs 7] [--max-tokens 128] [--auth]
Targets: chat_chat decode >= 90% of in_process; chat_chat TTFT - worker TTFT <= 15 ms (medians).
--auth runs the stack with accounts on: /chat/chat with a login token, /v1 with an API key (the
worker is always called with the cluster secret), to compare against a run without it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastchat.conversation import get_conv_template  # noqa: E402

from server.launcher.harness import running_stack  # noqa: E402
from server.llm.cluster_auth import HEADER as CLUSTER_HEADER  # noqa: E402
from server.llm.fastchat_compat import register_smollm2_template  # noqa: E402
from server.llm.model_locator import bundled_smollm2_path  # noqa: E402

QUESTION = "Write a long story about a lighthouse keeper and the sea."
MODEL = "smollm2"

Sample = tuple[float, float, int]  # ttft seconds, decode seconds (first → last chunk), tokens


def chat_prompt() -> str:
    register_smollm2_template()
    conv = get_conv_template("smollm2")
    conv.append_message(conv.roles[0], QUESTION)
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


def timed(chunks: Iterator[str]) -> tuple[float, float, str]:
    """Time to the first non-empty chunk, time from it to the last, and the whole text."""
    start = time.perf_counter()
    first = last = None
    text = ""
    for chunk in chunks:
        if not chunk:
            continue
        now = time.perf_counter()
        first = first or now
        last = now
        text += chunk
    if first is None or last is None:
        raise RuntimeError("no output")
    return first - start, last - first, text


def in_process(prompt: str, max_tokens: int) -> Callable[[], tuple[float, float, str]]:
    from llama_cpp import Llama

    # Flash attention, as the worker decodes (it keeps batched answers equal to lone ones).
    llm = Llama(
        str(bundled_smollm2_path()), n_ctx=8192, n_threads=os.cpu_count(), flash_attn=True, verbose=False
    )
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)

    def run() -> tuple[float, float, str]:
        def pieces() -> Iterator[str]:
            for i, token in enumerate(llm.generate(tokens, temp=0.0, top_k=0, top_p=1.0, min_p=0.0)):
                if token == llm.token_eos() or i >= max_tokens:
                    return
                yield llm.detokenize([token]).decode("utf-8", errors="ignore")

        return timed(pieces())

    return run


def worker_path(client: httpx.Client, url: str, prompt: str, max_tokens: int) -> Callable:
    params = {
        "model": MODEL,
        "prompt": prompt,
        "temperature": 0.0,
        "top_p": 1.0,
        "max_new_tokens": max_tokens,
        "echo": False,
        "stop": ["<|im_end|>"],
        "stop_token_ids": [2, 0],
    }

    def run() -> tuple[float, float, str]:
        def deltas() -> Iterator[str]:
            previous = ""
            with client.stream("POST", f"{url}/worker_generate_stream", json=params) as response:
                buffer = b""
                for raw in response.iter_bytes():
                    buffer += raw
                    *frames, buffer = buffer.split(b"\0")
                    for frame in frames:
                        text = json.loads(frame)["text"]
                        yield text[len(previous) :]
                        previous = text

        return timed(deltas())

    return run


def sse_path(
    client: httpx.Client,
    url: str,
    body: dict,
    extract: Callable[[dict], str],
    headers: dict[str, str] | None = None,
) -> Callable:
    def run() -> tuple[float, float, str]:
        def deltas() -> Iterator[str]:
            with client.stream("POST", url, json=body, headers=headers) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        yield extract(json.loads(line[6:]))

        return timed(deltas())

    return run


def summarize(samples: list[Sample]) -> dict:
    ttft = [s[0] for s in samples]
    rate = [(s[2] - 1) / s[1] for s in samples if s[1] > 0]
    return {
        "runs": len(samples),
        "ttft_ms_median": round(statistics.median(ttft) * 1000, 1),
        "decode_tok_s_median": round(statistics.median(rate), 1),
        "tokens_median": statistics.median(s[2] for s in samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--auth", action="store_true", help="accounts on (token on /chat, key on /v1)")
    args = parser.parse_args()
    env = (
        {
            "CHATCHAT_AUTH__ENABLED": "true",
            "CHATCHAT_AUTH__ADMIN_EMAIL": "bench@example.com",
            "CHATCHAT_AUTH__ADMIN_PASSWORD": "bench-password",
        }
        if args.auth
        else None
    )

    prompt = chat_prompt()
    local = in_process(prompt, args.max_tokens)
    from llama_cpp import Llama

    vocab = Llama(str(bundled_smollm2_path()), vocab_only=True, verbose=False)

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode(), add_bos=False, special=False))

    with (
        tempfile.TemporaryDirectory(prefix="chatchat-bench-") as tmp,
        running_stack(Path(tmp), env=env) as stack,
    ):
        client = httpx.Client(timeout=120, trust_env=False)
        worker_client = httpx.Client(
            timeout=120, trust_env=False, headers={CLUSTER_HEADER: stack.cluster_secret}
        )
        token_headers: dict[str, str] = {}
        key_headers: dict[str, str] = {}
        if args.auth:
            form = {"username": "bench@example.com", "password": "bench-password"}
            token = client.post(f"{stack.urls.api}/auth/token", data=form).json()["access_token"]
            token_headers = {"Authorization": f"Bearer {token}"}
            key = client.post(f"{stack.urls.api}/auth/api_keys", json={}, headers=token_headers).json()["key"]
            key_headers = {"Authorization": f"Bearer {key}"}
        chat_body = {"query": QUESTION, "stream": True, "temperature": 0, "max_tokens": args.max_tokens}
        openai_body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": QUESTION}],
            "stream": True,
            "temperature": 0,
            "max_tokens": args.max_tokens,
        }
        paths: dict[str, Callable] = {
            "in_process": local,
            "worker": worker_path(worker_client, stack.urls.worker, prompt, args.max_tokens),
            "openai_api": sse_path(
                client,
                f"{stack.urls.openai_api}/v1/chat/completions",
                openai_body,
                lambda e: (e["choices"][0]["delta"].get("content") or "") if e.get("choices") else "",
                key_headers,
            ),
            "chat_chat": sse_path(
                client, f"{stack.urls.api}/chat/chat", chat_body, lambda e: e.get("text", ""), token_headers
            ),
        }
        results: dict[str, list[Sample]] = {name: [] for name in paths}
        texts: dict[str, str] = {}
        for run in paths.values():
            run()  # warm-up: fills the KV cache with the prompt, as a chat's second turn would find it
        for _ in range(args.runs):
            for name, run in paths.items():  # interleaved, so drift on the machine hits every path alike
                ttft, decode, text = run()
                results[name].append((ttft, decode, count(text)))
                texts[name] = text
        client.close()
        worker_client.close()

    report = {name: summarize(samples) for name, samples in results.items()}
    report["chat_chat_decode_vs_in_process"] = round(
        report["chat_chat"]["decode_tok_s_median"] / report["in_process"]["decode_tok_s_median"], 3
    )
    report["chat_chat_ttft_minus_worker_ms"] = round(
        report["chat_chat"]["ttft_ms_median"] - report["worker"]["ttft_ms_median"], 1
    )
    report["same_text_all_paths"] = len(set(texts.values())) == 1
    report["settings"] = {
        "runs": args.runs,
        "max_tokens": args.max_tokens,
        "prompt": QUESTION,
        "auth": args.auth,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
