"""LLM chat: builds the model's messages (template, history) and keeps every exchange."""

from __future__ import annotations

import time

from configs import Settings
from server.api.schemas.chat import ChatRequest
from server.api.services.conversation_service import ANY, ConversationService, Owner
from server.api.services.exchange_recorder import Exchange, ExchangeRecorder, StreamedAnswer
from server.api.services.llm_client import LLMClient
from server.api.services.prompts import PromptTemplates

CHAT_TYPE = "llm_chat"


class ChatService:
    def __init__(
        self,
        settings: Settings,
        llm: LLMClient,
        prompts: PromptTemplates,
        conversations: ConversationService,
        recorder: ExchangeRecorder,
    ) -> None:
        self._settings = settings
        self._llm = llm
        self._prompts = prompts
        self._conversations = conversations
        self._recorder = recorder

    async def _history(self, request: ChatRequest, owner: Owner) -> list[dict[str, str]]:
        """Stored turns when the client names a conversation and a length, else what it sent."""
        if request.conversation_id and request.history_len >= 0:
            if request.history_len == 0:
                return []
            stored = await self._conversations.messages(
                request.conversation_id, last=request.history_len, owner=owner
            )
            turns: list[dict[str, str]] = []
            for message in stored:
                if message.response:
                    turns += [
                        {"role": "user", "content": message.query},
                        {"role": "assistant", "content": message.response},
                    ]
            return turns
        return [{"role": m.role, "content": m.content} for m in request.history]

    async def _prepare(
        self, request: ChatRequest, started: float, owner: Owner
    ) -> tuple[list[dict[str, str]], Exchange]:
        prompt = self._prompts.render(CHAT_TYPE, request.prompt_name, input=request.query)
        if request.conversation_id:
            await self._conversations.ensure(request.conversation_id, request.query[:40], CHAT_TYPE, owner)
        messages = [*await self._history(request, owner), {"role": "user", "content": prompt}]
        exchange = self._recorder.begin(
            request.query,
            chat_type=CHAT_TYPE,
            model=self._model(request),
            conversation_id=request.conversation_id,
            started=started,
            meta={"temperature": request.temperature, "prompt_name": request.prompt_name},
            owner=owner,
        )
        return messages, exchange

    def _model(self, request: ChatRequest) -> str:
        return request.model_name or self._settings.default_llm

    def _max_tokens(self, request: ChatRequest) -> int | None:
        return request.max_tokens or self._settings.max_tokens

    async def stream(self, request: ChatRequest, owner: Owner = ANY) -> StreamedAnswer:
        """Open the model's stream now (errors become HTTP statuses), then yield text as it comes."""
        messages, exchange = await self._prepare(request, time.perf_counter(), owner)
        return await exchange.stream_from(
            self._llm.chat_stream(
                self._model(request), messages, request.temperature, self._max_tokens(request)
            )
        )

    async def answer(self, request: ChatRequest, owner: Owner = ANY) -> tuple[str, str]:
        messages, exchange = await self._prepare(request, time.perf_counter(), owner)
        text = await exchange.answer_from(
            self._llm.chat(self._model(request), messages, request.temperature, self._max_tokens(request))
        )
        return exchange.message_id, text
