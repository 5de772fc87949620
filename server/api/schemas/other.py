"""Wire models of ``/other``: plain completion and text embeddings."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.api.schemas.common import NonBlankStr


class CompletionRequest(BaseModel):
    """``POST /other/completion``: continue a text, no chat template (Chatchat's fields)."""

    query: NonBlankStr = Field(
        ..., description="The text to continue (rendered into the completion template)."
    )
    stream: bool = False
    echo: bool = Field(False, description="Return the prompt before the continuation.")
    model_name: str | None = None
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int | None = Field(1024, ge=1)
    prompt_name: str = Field("default", min_length=1)


class EmbedTextsRequest(BaseModel):
    """``POST /other/embed_texts``: vectors from a configured local embedding model."""

    texts: list[str] = Field(..., min_length=1, max_length=2048, description="Texts to embed.")
    embed_model: str | None = Field(
        None, description="A configured embedding model; default: default_embed_model."
    )
    to_query: bool = Field(False, description="Embed as search queries (some models treat them differently).")
