"""Wire models of the server information endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

PromptType = Literal["llm_chat", "knowledge_base_chat", "search_engine_chat", "agent_chat", "completion"]


class PromptTemplateQuery(BaseModel):
    type: PromptType = Field("llm_chat", description="Which chat the template is for.")
    name: str = Field("default", min_length=1, max_length=100)
