"""Wire models shared by every router: Chatchat's ``{code, msg, data}`` envelope."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or blank")
    return value


NonBlankStr = Annotated[str, AfterValidator(_not_blank)]

OpenApiResponses = dict[int | str, dict[str, Any]]  # a route's ``responses=``: status → what /docs shows

CONVERSATION_ID_MAX = 32  # the width of the stored id (a uuid4 hex, as Chatchat clients make them)
ConversationIdField = Annotated[
    str,
    Field(
        max_length=CONVERSATION_ID_MAX,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="Conversation the message belongs to (created by the first message that names it).",
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
