"""Wire models of the server information endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

PromptType = Literal[
    "llm_chat",
    "knowledge_base_chat",
    "search_engine_chat",
    "agent_chat",
    "completion",
    "condense_question",
    "kb_summary",
]


class PromptTemplateQuery(BaseModel):
    type: PromptType = Field("llm_chat", description="Which chat the template is for.")
    name: str = Field("default", min_length=1, max_length=100)


class ServerConfigs(BaseModel):
    """``/server/configs``: Chatchat 0.2's flat configuration keys, our whole configuration in ``data``.

    Chatchat's clients read the upper-case keys as its ``configs/*.py`` modules name them; our own
    clients read the envelope's ``data`` (every secret masked).
    """

    code: int = 200
    msg: str = "success"
    data: dict[str, Any] = Field(description="This server's configuration, secrets masked.")
    DEFAULT_KNOWLEDGE_BASE: str
    DEFAULT_SEARCH_ENGINE: str
    DEFAULT_VS_TYPE: str
    CHUNK_SIZE: int
    OVERLAP_SIZE: int
    SCORE_THRESHOLD: float
    VECTOR_SEARCH_TOP_K: int
    SEARCH_ENGINE_TOP_K: int
    ZH_TITLE_ENHANCE: bool
    text_splitter_dict: dict[str, dict[str, Any]]
    TEXT_SPLITTER_NAME: str
    LLM_MODELS: list[str] = Field(description="Configured chat models, the default first.")
    HISTORY_LEN: int
    TEMPERATURE: float
    PROMPT_TEMPLATES: dict[str, dict[str, str]]
    controller_address: str
    openai_api_address: str
    api_address: str
