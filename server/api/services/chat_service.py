"""LLM chat: builds the model's messages (template, history) and keeps every exchange."""

from __future__ import annotations

import time

from configs import Settings
from server.api.schemas.chat import ChatRequest
from server.api.services.conversation_service import ANY, ConversationService, Owner
from server.api.services.exchange_recorder import Exchange, ExchangeRecorder, StreamedAnswer
from server.api.services.llm_client import LLMClient
from server.api.services.model_chat import ModelChat
from server.api.services.prompts import PromptTemplates

CHAT_TYPE = "llm_chat"


class ChatService(ModelChat):
    def __init__(
        self,
        settings: Settings,
        llm: LLMClient,
        prompts: PromptTemplates,
        conversations: ConversationService,
        recorder: ExchangeRecorder,
    ) -> None:
        super().__init__(settings, llm, prompts, recorder)
        self._conversations = conversations

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
        return self._sent_history(request)

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
