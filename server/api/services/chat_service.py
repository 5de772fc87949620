"""LLM chat: turns a Chatchat request into messages for the model and streams the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

from configs import Settings
from server.api.schemas.chat import ChatRequest
from server.api.services.llm_client import LLMClient
from server.api.services.prompts import PromptTemplates

CHAT_TYPE = "llm_chat"


class ChatService:
    def __init__(self, settings: Settings, llm: LLMClient, prompts: PromptTemplates) -> None:
        self._settings = settings
        self._llm = llm
        self._prompts = prompts

    def messages(self, request: ChatRequest) -> list[dict[str, str]]:
        prompt = self._prompts.render(CHAT_TYPE, request.prompt_name, input=request.query)
        history = [{"role": m.role, "content": m.content} for m in request.history]
        return [*history, {"role": "user", "content": prompt}]

    def model(self, request: ChatRequest) -> str:
        return request.model_name or self._settings.default_llm

    def max_tokens(self, request: ChatRequest) -> int | None:
        return request.max_tokens or self._settings.max_tokens

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        """Validate and open the stream now (errors become HTTP statuses), then yield text."""
        return await self._llm.chat_stream(
            self.model(request), self.messages(request), request.temperature, self.max_tokens(request)
        )

    async def answer(self, request: ChatRequest) -> str:
        return await self._llm.chat(
            self.model(request), self.messages(request), request.temperature, self.max_tokens(request)
        )
