"""What every chat service shares: its collaborators, and what a request resolves to.

LLM chat, search chat and knowledge-base chat each build different messages, but take the same
parts and agree on which model answers, how long the answer may be and what the client's own
history looks like to the model.
"""

from __future__ import annotations

from typing import Protocol

from configs import Settings
from server.api.schemas.chat import HistoryMessage
from server.api.services.exchange_recorder import ExchangeRecorder
from server.api.services.llm_client import LLMClient
from server.api.services.prompts import PromptTemplates


class ModelRequest(Protocol):
    """The fields of a chat request that choose the model call (every chat mode has them)."""

    @property
    def model_name(self) -> str | None: ...
    @property
    def max_tokens(self) -> int | None: ...
    @property
    def history(self) -> list[HistoryMessage]: ...


class ModelChat:
    def __init__(
        self, settings: Settings, llm: LLMClient, prompts: PromptTemplates, recorder: ExchangeRecorder
    ) -> None:
        self._settings = settings
        self._llm = llm
        self._prompts = prompts
        self._recorder = recorder

    def _model(self, request: ModelRequest) -> str:
        return request.model_name or self._settings.default_llm

    def _max_tokens(self, request: ModelRequest) -> int | None:
        return request.max_tokens or self._settings.max_tokens

    @staticmethod
    def _sent_history(request: ModelRequest) -> list[dict[str, str]]:
        """The turns the client sent, as chat messages."""
        return [{"role": m.role, "content": m.content} for m in request.history]
