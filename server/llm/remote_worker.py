"""A FastChat worker that forwards to a remote OpenAI-compatible endpoint.

Ollama, vLLM, llama.cpp's server, DeepSeek, OpenAI ... all speak ``/v1/chat/completions``.
Served through a worker, a remote model registers with the controller like a local one, so
it appears in ``/v1/models`` and the model list and is reached the same way.

FastChat's API server renders chat messages into one prompt string with the conversation
template it gets from the worker. This worker's template renders the messages with ASCII
record/unit separators, which :func:`prompt_to_messages` splits back into messages, so the
remote end receives the conversation as structured messages, not as one flattened prompt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
from fastchat.constants import ErrorCode
from fastchat.conversation import Conversation, SeparatorStyle
from fastchat.serve.base_model_worker import BaseModelWorker
from openai import AsyncOpenAI

from server.llm.token_estimate import estimate_tokens
from server.llm.tool_calls import add_call_part
from server.llm.worker_protocol import GenerationParams, error_frame

logger = logging.getLogger(__name__)

RECORD, UNIT = "\x1e", "\x1f"
DEFAULT_CONTEXT = 32768


def message_template() -> Conversation:
    return Conversation(
        name="openai-messages",
        system_template=f"{RECORD}system{UNIT}{{system_message}}",
        system_message="",
        roles=(f"{RECORD}user{UNIT}", f"{RECORD}assistant{UNIT}"),
        messages=[],
        sep_style=SeparatorStyle.NO_COLON_SINGLE,
        sep="",
    )


def prompt_to_messages(prompt: str) -> list[dict[str, str]]:
    """Undo the template: a prompt that does not use it (``/v1/completions``) is one user message."""
    if not prompt.startswith(f"{RECORD}system{UNIT}"):
        return [{"role": "user", "content": prompt}]
    parts = prompt.split(RECORD)[1:]
    messages = []
    for index, part in enumerate(parts):
        role, _, content = part.partition(UNIT)
        last = index == len(parts) - 1
        if (role == "system" and not content) or (last and role == "assistant" and not content):
            continue
        messages.append({"role": role, "content": content})
    return messages


class RemoteOpenAIWorker(BaseModelWorker):
    def __init__(
        self,
        controller_addr: str,
        worker_addr: str,
        worker_id: str,
        model_names: list[str],
        limit_worker_concurrency: int,
        *,
        base_url: str,
        api_key: str | None,
        remote_model: str,
        context_length: int | None = None,
        timeout: float = 120.0,
        register: bool = True,
    ) -> None:
        super().__init__(
            controller_addr, worker_addr, worker_id, base_url, model_names, limit_worker_concurrency
        )
        self.context_len = context_length or DEFAULT_CONTEXT
        self.remote_model = remote_model
        self._client = AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "EMPTY",
            max_retries=1,
            timeout=httpx.Timeout(timeout, connect=10.0),
        )
        self._pending = 0
        logger.info("forwarding %s to %s (model %s)", model_names, base_url, remote_model)
        if register:
            self.init_heart_beat()

    def make_conv_template(
        self, conv_template: str | None = None, model_path: str | None = None
    ) -> Conversation:
        return message_template()

    def get_queue_length(self) -> int:
        return self._pending

    def count_token(self, params: dict[str, Any]) -> dict[str, Any]:
        """An estimate that counts CJK text right (the remote tokenizer is unknown): it bounds max_tokens."""
        return {"count": estimate_tokens(str(params["prompt"])), "error_code": 0}

    def get_embeddings(self, params: dict[str, Any]) -> dict[str, Any]:
        return error_frame("remote chat models do not serve embeddings here")

    def capabilities(self) -> dict[str, bool]:
        return {"json_schema": False, "native_tools": True}

    def _request(self, params: GenerationParams, raw: dict[str, Any]) -> dict[str, Any]:
        """The OpenAI request; with tools the API server sends the original messages along."""
        messages = raw.get("messages") if isinstance(raw.get("messages"), list) else None
        request: dict[str, Any] = {
            "model": self.remote_model,
            "messages": messages or prompt_to_messages(params.prompt),
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_new_tokens,
        }
        if params.stop:
            request["stop"] = params.stop[:4]  # OpenAI accepts at most four
        if raw.get("tools"):
            request["tools"] = raw["tools"]
            if raw.get("tool_choice") is not None:
                request["tool_choice"] = raw["tool_choice"]
        return request

    @staticmethod
    def _frame(
        text: str, finish: str | None, usage: Any = None, tool_calls: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        frame: dict[str, Any] = {"text": text, "error_code": 0, "finish_reason": finish}
        if tool_calls:
            frame["tool_calls"] = tool_calls
        if usage is not None:
            frame["usage"] = {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            }
        return frame

    @staticmethod
    def _error(exc: Exception) -> dict[str, Any]:
        code = ErrorCode.INTERNAL_ERROR
        if isinstance(exc, openai.RateLimitError):
            code = ErrorCode.RATE_LIMIT
        elif isinstance(exc, openai.AuthenticationError):
            code = ErrorCode.INVALID_AUTH_KEY
        return error_frame(f"remote endpoint: {type(exc).__name__}: {exc}", code)

    async def stream(self, raw: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        params = GenerationParams.from_request(raw)
        self._pending += 1
        self.call_ct += 1
        started = time.perf_counter()
        text, finish, usage = "", None, None
        calls: dict[int, dict[str, Any]] = {}  # streamed tool calls, assembled by index
        try:
            stream = await self._client.chat.completions.create(**self._request(params, raw), stream=True)
            async with stream:
                async for chunk in stream:
                    usage = getattr(chunk, "usage", None) or usage
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    finish = choice.finish_reason or finish
                    if choice.delta and choice.delta.content:
                        text += choice.delta.content
                        yield self._frame(text, None)
                    for part in (choice.delta.tool_calls or []) if choice.delta else []:
                        add_call_part(calls, part)
            yield self._frame(text, finish or "stop", usage, [calls[i] for i in sorted(calls)])
            logger.info("remote answer: %d chars in %.2fs", len(text), time.perf_counter() - started)
        except (openai.APIError, httpx.HTTPError) as exc:
            logger.warning("remote request failed: %s", exc)
            yield self._error(exc)
        finally:
            self._pending -= 1

    async def generate(self, raw: dict[str, Any]) -> dict[str, Any]:
        frame: dict[str, Any] = error_frame("no output")
        async for frame in self.stream(raw):  # noqa: B007 - the last one counts
            pass
        return frame

    def close(self) -> None:
        pass
