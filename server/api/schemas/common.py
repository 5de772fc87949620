"""Wire models shared by every router: Chatchat's ``{code, msg, data}`` envelope."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or blank")
    return value


NonBlankStr = Annotated[str, AfterValidator(_not_blank)]


class BaseResponse(BaseModel):
    """Langchain-Chatchat's response envelope; errors use it too, with a 4xx/5xx code."""

    code: int = Field(200, description="HTTP-like status code")
    msg: str = Field("success", description="Human-readable result or error message")
    data: Any = Field(None, description="The payload")


class HealthResponse(BaseModel):
    status: str = Field("ok", examples=["ok"])
    version: str
