"""Wire models of ``/v1/rerank``: the shape vLLM, Xinference, llama.cpp and TEI-compatible servers share."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RerankRequest(BaseModel):
    model: str = Field(..., min_length=1, description="A reranker name in settings (rerankers).")
    query: str = Field(..., min_length=1)
    documents: list[str] = Field(..., min_length=1, max_length=1000)
    top_n: int | None = Field(None, ge=1, description="Results to return (default: all).")
    return_documents: bool = False


class RerankDocument(BaseModel):
    text: str


class RerankResult(BaseModel):
    index: int = Field(description="Position of the document in the request.")
    relevance_score: float = Field(description="0..1, higher is better.")
    document: RerankDocument | None = None


class RerankResponse(BaseModel):
    model: str
    results: list[RerankResult] = Field(description="Best first.")
