"""Wire models shared by every router: Chatchat's ``{code, msg, data}`` envelope."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or blank")
    return value


NonBlankStr = Annotated[str, AfterValidator(_not_blank)]

ROW_ID_MAX = 2**63 - 1  # the largest key SQLite and PostgreSQL's BIGINT store

KB_NAMES_MAX = 20  # knowledge bases one search may cover


def _kb_names(value: str | list[str]) -> str | list[str]:
    if isinstance(value, list):
        if not value:
            raise ValueError("give at least one knowledge base name")
        if len(value) > KB_NAMES_MAX:
            raise ValueError(f"at most {KB_NAMES_MAX} knowledge bases at once")
        return list(dict.fromkeys(value))
    return value


KbNames = Annotated[
    str | list[str],
    AfterValidator(_kb_names),
    Field(
        description="A knowledge base name, or a list of them: their results are merged by reciprocal "
        "rank and each names its knowledge base.",
        examples=["samples", ["samples", "handbook"]],
    ),
]


def kb_name_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


RelevanceField = Annotated[
    float | None,
    Field(
        None,
        ge=0.0,
        le=1.0,
        description="Smallest relevance (0..1, higher = closer) a chunk may have "
        "(default: kb.min_relevance).",
    ),
]


class StageScores(BaseModel):
    """A chunk's score at each retrieval stage it went through, each 0..1, higher is better."""

    vector: float | None = Field(None, description="Cosine similarity to the query.")
    keyword: float | None = Field(None, description="Keyword score over the query's best (hybrid search).")
    fused: float | None = Field(None, description="Vector and keyword scores fused (hybrid search).")
    rerank: float | None = Field(None, description="The reranker's score (when reranking is on).")


OpenApiResponses = dict[int | str, dict[str, Any]]  # a route's ``responses=``: status → what /docs shows

CONVERSATION_ID_MAX = 32  # the width of the stored id (a uuid4 hex, as Chatchat clients make them)


def _none_is_empty(value: object) -> object:
    """Chatchat's clients send ``null`` for "no conversation" (their default); that is ``""`` here."""
    return "" if value is None else value


ConversationIdField = Annotated[
    str,
    BeforeValidator(_none_is_empty),
    Field(
        max_length=CONVERSATION_ID_MAX,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="Conversation the message belongs to (created by the first message that names it); "
        "null or empty: a new one.",
    ),
]


class BaseResponse(BaseModel):
    """Langchain-Chatchat's response envelope; errors use it too, with a 4xx/5xx code."""

    code: int = Field(200, description="HTTP-like status code")
    msg: str = Field("success", description="Human-readable result or error message")
    data: Any = Field(None, description="The payload")


class HealthResponse(BaseModel):
    status: str = Field("ok", examples=["ok"])
    version: str
