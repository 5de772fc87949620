"""One chat exchange, from the request to the stored answer, the same way in every chat mode.

The message row is written while the model starts, so storing costs no time to first token; it is
finished with the answer when the stream ends, also when the client went away mid-stream. Time to
first output, failures by status and generated tokens go to the chat metrics, the token count off
the answer's path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from server.api.errors import ApiError, http_status
from server.api.metrics import ChatMetrics
from server.api.services.conversation_service import ANY, ConversationService, Owner, new_id
from server.api.services.llm_client import LLMClient

logger = logging.getLogger(__name__)


@dataclass
class StreamedAnswer:
    """A started answer: the id of its stored message and the text as it streams."""

    message_id: str
    text: AsyncIterator[str]


class ExchangeRecorder:
    """Starts :class:`Exchange` objects; one per app, shared by the chat services and routes."""

    def __init__(self, conversations: ConversationService, llm: LLMClient, metrics: ChatMetrics) -> None:
        self._conversations = conversations
        self._llm = llm
        self._metrics = metrics
        self._background: set[asyncio.Task[None]] = set()

    def begin(
        self,
        query: str,
        *,
        chat_type: str,
        model: str | None,
        conversation_id: str = "",
        meta: dict[str, Any] | None = None,
        started: float | None = None,
        owner: Owner = ANY,
    ) -> Exchange:
        """Start writing the message row now; call right before opening the model's stream.

        ``started`` (``time.perf_counter()``) is when the request arrived, so the time to first
        output includes retrieval or search; ``model`` is None when no model answers. ``owner`` is
        the account the exchange is stored for (checked usable by the route before).
        """
        message_id = new_id()
        stored = asyncio.ensure_future(
            self._conversations.add_message(
                message_id,
                query,
                conversation_id=conversation_id or None,
                chat_type=chat_type,
                model_name=model,
                meta=meta,
                owner=owner,
            )
        )  # written while the model starts: it costs no time to first token
        return Exchange(
            message_id,
            model,
            stored,
            time.perf_counter() if started is None else started,
            conversations=self._conversations,
            metrics=self._metrics,
            count_tokens=self._count_tokens_later,
        )

    def _count_tokens_later(self, model: str, text: str) -> None:
        task = asyncio.create_task(self._count_tokens(model, text))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _count_tokens(self, model: str, text: str) -> None:
        """After the answer, off its path: the generated-tokens metric, by the model's tokenizer."""
        try:
            self._metrics.generated_tokens.labels(model).inc(await self._llm.count_tokens(model, text))
        except Exception as exc:  # a metric is never worth a failed request
            logger.debug("token count for metrics failed: %s", exc)


class Exchange:
    """One question and its answer being recorded."""

    def __init__(
        self,
        message_id: str,
        model: str | None,
        stored: asyncio.Future[None],
        started: float,
        *,
        conversations: ConversationService,
        metrics: ChatMetrics,
        count_tokens: Callable[[str, str], None],
    ) -> None:
        self.message_id = message_id
        self.model = model
        self._stored = stored
        self._started = started
        self._conversations = conversations
        self._metrics = metrics
        self._count_tokens = count_tokens
        self._first_seen = False
        self._error: str | None = None
        self._finished = False
        self._cut_short = False

    def first_output(self) -> None:
        """The client sees the first output now: observe the time to first token (once)."""
        if self._first_seen:
            return
        self._first_seen = True
        if self.model is not None:
            self._metrics.time_to_first_token.labels(self.model).observe(time.perf_counter() - self._started)

    def failed(self, status: int, message: str) -> None:
        """Count a failure by status now; its message goes into the stored meta."""
        if self.model is not None:
            self._metrics.errors.labels(self.model, str(status)).inc()
        self._error = message

    def cut_short(self) -> None:
        """The client went away (a Stop button, a closed tab) before the end: the answer is stored
        as far as it got, marked ``stopped`` so a reader can tell it from a finished one."""
        self._cut_short = True

    async def finish(self, response: str, meta: dict[str, Any] | None = None) -> None:
        """Store the answer; shielded, so a client that went away mid-stream still leaves it complete."""
        if self._finished:
            return
        self._finished = True
        meta = dict(meta or {})
        if self._error is not None:
            meta["error"] = self._error
        if self._cut_short:
            meta["stopped"] = True
        with anyio.CancelScope(shield=True):
            await self._stored
            await self._conversations.finish_message(self.message_id, response, meta or None)
        if response and self.model is not None:
            self._count_tokens(self.model, response)

    async def abort(self, exc: ApiError) -> None:
        """The model's stream could not be opened: store the question with the error."""
        self.failed(http_status(exc), exc.message)
        await self.finish("")

    async def stream_from(self, opening: Awaitable[AsyncIterator[str]]) -> StreamedAnswer:
        """Open the model's stream (its failure is stored, then raised as an HTTP status) and record it."""
        try:
            deltas = await opening
        except ApiError as exc:
            await self.abort(exc)
            raise
        return StreamedAnswer(self.message_id, self.record(deltas))

    async def answer_from(self, answering: Awaitable[str]) -> str:
        """The whole answer at once, stored before it is returned; a failure is stored, then raised."""
        try:
            text = await answering
        except ApiError as exc:
            await self.abort(exc)
            raise
        self.first_output()
        await self.finish(text)
        return text

    async def record(self, deltas: AsyncIterator[str]) -> AsyncIterator[str]:
        """Pass the model's text through, recording it; the exchange is finished when it ends."""
        parts: list[str] = []
        try:
            async for delta in deltas:
                if not parts:
                    self.first_output()
                parts.append(delta)
                yield delta
        except ApiError as exc:
            self.failed(http_status(exc), exc.message)
            raise
        except (asyncio.CancelledError, GeneratorExit):  # the client disconnected mid-answer
            self.cut_short()
            raise
        finally:
            await self.finish("".join(parts))
