"""LLM chat: builds the model's messages (template, history) and keeps every exchange."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import anyio

from configs import Settings
from server.api.errors import ApiError
from server.api.metrics import ChatMetrics
from server.api.schemas.chat import ChatRequest
from server.api.services.conversation_service import ConversationService, new_id
from server.api.services.llm_client import LLMClient
from server.api.services.prompts import PromptTemplates

logger = logging.getLogger(__name__)

CHAT_TYPE = "llm_chat"


@dataclass
class ChatAnswer:
    """A started answer: its id and the text as it streams."""

    message_id: str
    text: AsyncIterator[str]


class ChatService:
    def __init__(
        self,
        settings: Settings,
        llm: LLMClient,
        prompts: PromptTemplates,
        conversations: ConversationService,
        metrics: ChatMetrics,
    ) -> None:
        self._settings = settings
        self._llm = llm
        self._prompts = prompts
        self._conversations = conversations
        self._metrics = metrics
        self._background: set[asyncio.Task[None]] = set()

    async def _history(self, request: ChatRequest) -> list[dict[str, str]]:
        """Stored turns when the client names a conversation and a length, else what it sent."""
        if request.conversation_id and request.history_len >= 0:
            if request.history_len == 0:
                return []
            stored = await self._conversations.messages(request.conversation_id, last=request.history_len)
            turns: list[dict[str, str]] = []
            for message in stored:
                if message.response:
                    turns += [{"role": "user", "content": message.query},
                              {"role": "assistant", "content": message.response}]
            return turns
        return [{"role": m.role, "content": m.content} for m in request.history]

    async def _prepare(self, request: ChatRequest) -> tuple[str, list[dict[str, str]], str, Awaitable[None]]:
        prompt = self._prompts.render(CHAT_TYPE, request.prompt_name, input=request.query)
        model = request.model_name or self._settings.default_llm
        if request.conversation_id:
            await self._conversations.ensure(request.conversation_id, request.query[:40], CHAT_TYPE)
        messages = [*await self._history(request), {"role": "user", "content": prompt}]
        message_id = new_id()
        stored = asyncio.ensure_future(self._conversations.add_message(
            message_id, request.query, conversation_id=request.conversation_id or None, chat_type=CHAT_TYPE,
            model_name=model, meta={"temperature": request.temperature, "prompt_name": request.prompt_name},
        ))  # written while the model starts: it costs no time to first token
        return message_id, messages, model, stored

    def _max_tokens(self, request: ChatRequest) -> int | None:
        return request.max_tokens or self._settings.max_tokens

    async def _finish(
        self, message_id: str, stored: Awaitable[None], model: str, text: str, error: ApiError | None
    ) -> None:
        if error is not None:
            self._metrics.errors.labels(model, str(error.status_code)).inc()
        with anyio.CancelScope(shield=True):  # also when the client went away mid-stream
            await stored
            meta = {"error": error.message} if error else None
            await self._conversations.finish_message(message_id, text, meta)
        if text:
            task = asyncio.create_task(self._count_tokens(model, text))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _count_tokens(self, model: str, text: str) -> None:
        """After the answer, off its path: the generated-tokens metric, by the model's tokenizer."""
        try:
            self._metrics.generated_tokens.labels(model).inc(await self._llm.count_tokens(model, text))
        except Exception as exc:  # a metric is never worth a failed request
            logger.debug("token count for metrics failed: %s", exc)

    async def stream(self, request: ChatRequest) -> ChatAnswer:
        """Open the model's stream now (errors become HTTP statuses), then yield text as it comes."""
        started = time.perf_counter()
        message_id, messages, model, stored = await self._prepare(request)
        try:
            deltas = await self._llm.chat_stream(model, messages, request.temperature, self._max_tokens(request))
        except ApiError as exc:
            await self._finish(message_id, stored, model, "", exc)
            raise

        async def text() -> AsyncIterator[str]:
            parts: list[str] = []
            error: ApiError | None = None
            try:
                async for delta in deltas:
                    if not parts:
                        self._metrics.time_to_first_token.labels(model).observe(time.perf_counter() - started)
                    parts.append(delta)
                    yield delta
            except ApiError as exc:
                error = exc
                raise
            finally:
                await self._finish(message_id, stored, model, "".join(parts), error)

        return ChatAnswer(message_id, text())

    async def answer(self, request: ChatRequest) -> tuple[str, str]:
        started = time.perf_counter()
        message_id, messages, model, stored = await self._prepare(request)
        try:
            text = await self._llm.chat(model, messages, request.temperature, self._max_tokens(request))
        except ApiError as exc:
            await self._finish(message_id, stored, model, "", exc)
            raise
        self._metrics.time_to_first_token.labels(model).observe(time.perf_counter() - started)
        await self._finish(message_id, stored, model, text, None)
        return message_id, text
