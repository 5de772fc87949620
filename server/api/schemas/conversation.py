"""Wire models of conversations, stored messages and feedback."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.api.schemas.common import NonBlankStr

ChatType = Literal["llm_chat", "knowledge_base_chat", "file_chat", "search_engine_chat", "agent_chat"]
ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"  # conversation ids are stored 32 wide
SETTINGS_MAX_BYTES = 8192


class ConversationCreate(BaseModel):
    name: NonBlankStr = Field("New chat", max_length=200)
    chat_type: ChatType = "llm_chat"


class ConversationRename(BaseModel):
    """``PATCH /conversations/{id}``: a new name, new settings, or both."""

    name: NonBlankStr | None = Field(None, max_length=200)
    settings: dict[str, Any] | None = Field(
        None,
        description="The client's settings for this conversation (chat mode, knowledge base, options), "
        "replaced as a whole; at most 8 KB as JSON.",
    )

    @model_validator(mode="after")
    def _something(self) -> ConversationRename:
        if self.name is None and self.settings is None:
            raise ValueError("give a name, settings or both")
        if self.settings is not None and len(json.dumps(self.settings, default=str)) > SETTINGS_MAX_BYTES:
            raise ValueError(f"settings are larger than {SETTINGS_MAX_BYTES} bytes as JSON")
        return self


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    chat_type: str
    settings: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    conversation_id: str | None
    chat_type: str
    query: str
    response: str
    model_name: str | None
    meta: dict[str, Any]
    feedback_score: int | None
    feedback_reason: str | None
    created_at: datetime


class FeedbackRequest(BaseModel):
    """``POST /chat/feedback``: a user's rating of one answer (Chatchat's fields)."""

    message_id: str = Field(..., min_length=1, max_length=32)
    score: int = Field(..., ge=0, le=100, description="0 (bad) to 100 (good)")
    reason: str = Field("", max_length=4000)
