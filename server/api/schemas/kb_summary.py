"""Wire models of Chatchat's ``/knowledge_base/kb_summary_api`` endpoints (its fields and defaults)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.api.schemas.common import NonBlankStr

KB_NAME = Field(..., description="Knowledge base name.", examples=["samples"])


class _SummaryModel(BaseModel):
    knowledge_base_name: str = KB_NAME
    vs_type: str | None = Field(
        None, description="Accepted for Chatchat's clients; the KB's own store is used."
    )
    embed_model: str | None = Field(
        None, description="Accepted for Chatchat's clients; the KB's embedder is used."
    )
    file_description: str = Field("", max_length=2000, description="What the file is, given to the model.")
    model_name: str | None = Field(None, description="The chat model that summarises (default: default_llm).")
    temperature: float = Field(0.7, ge=0.0, le=1.0)
    max_tokens: int | None = Field(
        None, ge=1, le=8192, description="Per model call; null = the configured default."
    )


class RecreateSummaryRequest(_SummaryModel):
    allow_empty_kb: bool = True


class SummaryFileRequest(_SummaryModel):
    file_name: NonBlankStr = Field(..., examples=["wiki/Home.MD"])
    allow_empty_kb: bool = True


class SummaryDocIdsRequest(_SummaryModel):
    doc_ids: list[str] = Field(default_factory=list, max_length=1000, description="Chunk ids to summarise.")


class SearchSummaryRequest(BaseModel):
    knowledge_base_name: str = KB_NAME
    query: NonBlankStr
    top_k: int = Field(3, ge=1, le=100)


class SummaryHit(BaseModel):
    id: str
    file_name: str
    summary: str
    score: float = Field(description="Distance, 1 - cosine (lower is closer).")
    relevance: float = Field(description="Cosine similarity, 0..1.")
    doc_ids: list[str] = Field(default_factory=list, description="The chunks the summary covers.")
