"""Wire models of ``/chat/search_engine_chat`` and ``/server/list_search_engines``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.api.schemas.chat import HistoryMessage
from server.api.schemas.common import ConversationIdField, NonBlankStr


class SearchEngineChatRequest(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {"query": "What is SearXNG?", "search_engine_name": "searxng", "top_k": 3, "stream": True}
            ]
        }
    }

    query: NonBlankStr = Field(..., description="The user's question; also the search query.")
    search_engine_name: NonBlankStr = Field(
        ..., description="A configured engine (see /server/list_search_engines)."
    )
    conversation_id: ConversationIdField = ""
    top_k: int = Field(3, ge=1, le=20, description="Search results used as context.")
    history: list[HistoryMessage] = Field(default_factory=list, description="Earlier turns, oldest first.")
    stream: bool = Field(False, description="Stream the answer as Server-Sent Events chunk by chunk.")
    model_name: str | None = Field(None, description="A running model; default: the configured default_llm.")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature; 0 is greedy.")
    max_tokens: int | None = Field(
        None, ge=1, description="Answer length limit; null = the configured default."
    )
    prompt_name: str = Field(
        "default", min_length=1, description="Prompt template name (search_engine_chat)."
    )
    split_result: bool = Field(
        False, description="Read each result's page and use its best-matching passage."
    )
    rewrite_query: bool | None = Field(
        None,
        description="With history, rewrite the question into a standalone query before searching "
        "(default: kb.rewrite_query); the rewrite is reported as `rewritten_query`.",
    )


FIRST_EVENT_ID = "The stored message's id, for /chat/feedback; on the first event of a stream only."


class AnswerChunk(BaseModel):
    """``data: {"answer": ...}``: a piece of the answer."""

    answer: str
    message_id: str | None = Field(None, description=FIRST_EVENT_ID)


class WebSource(BaseModel):
    """A cited search result, structured (the ``docs`` strings carry the same for Chatchat clients)."""

    index: int
    title: str
    url: str
    text: str = Field(..., description="The result's snippet, or with split_result its page's best passage.")


class DocsEvent(BaseModel):
    """``data: {"docs": [...], "sources": [...]}``: the sources after the answer, as Chatchat's
    markdown strings and structured."""

    docs: list[str]
    sources: list[WebSource] = Field(default_factory=list)
    rewritten_query: str | None = Field(
        None, description="The standalone query the search used, when the question was rewritten."
    )
    message_id: str | None = Field(None, description=FIRST_EVENT_ID)


class WholeAnswer(BaseModel):
    """The single event of ``stream=false``."""

    answer: str
    docs: list[str]
    sources: list[WebSource] = Field(default_factory=list)
    rewritten_query: str | None = Field(
        None, description="The standalone query the search used, when the question was rewritten."
    )
    message_id: str = Field(..., description="The stored message's id, for /chat/feedback.")
