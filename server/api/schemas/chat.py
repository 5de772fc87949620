"""Wire models of the chat endpoints (field names and defaults follow Langchain-Chatchat 0.2)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from server.api.schemas.common import ConversationIdField, NonBlankStr


class HistoryMessage(BaseModel):
    """One earlier turn. Chatchat clients also send ``[role, content]`` pairs; both are accepted."""

    role: Literal["user", "assistant", "system"]
    content: str

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any) -> Any:
        if isinstance(value, list | tuple) and len(value) == 2:
            return {"role": value[0], "content": value[1]}
        return value


class ChatRequest(BaseModel):
    """``POST /chat/chat``: chat with a model, no retrieval."""

    model_config = {
        "json_schema_extra": {
            "examples": [{"query": "What is the capital of France?", "stream": True, "temperature": 0.7}]
        }
    }

    query: NonBlankStr = Field(..., description="The user's message.")
    conversation_id: ConversationIdField = ""
    history_len: int = Field(
        -1, ge=-1, description="-1: use `history`; n: take the last n turns from storage."
    )
    history: list[HistoryMessage] = Field(default_factory=list, description="Earlier turns, oldest first.")
    stream: bool = Field(False, description="Stream the answer as Server-Sent Events chunk by chunk.")
    model_name: str | None = Field(None, description="A running model; default: the configured default_llm.")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature; 0 is greedy.")
    max_tokens: int | None = Field(
        None, ge=1, description="Answer length limit; null = what the context allows."
    )
    prompt_name: str = Field("default", min_length=1, description="Prompt template name (llm_chat).")


class ChatChunk(BaseModel):
    """One Server-Sent Event of ``/chat/chat``: ``data: {"text": ..., "message_id": ...}``."""

    text: str
    message_id: str


class StreamError(BaseModel):
    """Sent as the last event when a stream that already started fails."""

    code: int
    msg: str
    message_id: str | None = None
