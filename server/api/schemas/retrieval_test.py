"""Wire models of the retrieval test: every candidate of a search, with its stages and its fate."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from server.api.schemas.chat import HistoryMessage
from server.api.schemas.common import KbNames, NonBlankStr, RelevanceField, StageScores


class RetrievalTestRequest(BaseModel):
    """The fields of knowledge_base_chat that choose what is retrieved (same defaults)."""

    query: NonBlankStr = Field(..., description="The question, as a chat would send it.")
    knowledge_base_name: KbNames
    top_k: int | None = Field(None, ge=1, le=100, description="Chunks kept (default: kb.top_k).")
    score_threshold: float | None = Field(
        None, ge=0.0, le=2.0, description="Largest distance, 1 - cosine (default: kb.score_threshold)."
    )
    min_relevance: RelevanceField = None
    hybrid: bool | None = Field(None, description="BM25 + vectors (default: each knowledge base's setting).")
    rerank: bool | None = Field(None, description="Rerank the merged chunks (default: kb.rerank).")
    rerank_top_n: int | None = Field(None, ge=1, le=100, description="Chunks kept after reranking.")
    reranker: str | None = Field(None, description="A name in rerankers (default: kb.reranker).")
    history: list[HistoryMessage] = Field(
        default_factory=list, description="Earlier turns: the question is rewritten as a chat would."
    )
    rewrite_query: bool | None = Field(None, description="Rewrite a follow-up (default: kb.rewrite_query).")
    model_name: str | None = Field(None, description="The model that rewrites (default: default_llm).")


class StageRanks(BaseModel):
    """A candidate's 1-based rank in each ordering it took part in."""

    vector: int | None = Field(None, description="Among the vector candidates of its knowledge base.")
    keyword: int | None = Field(None, description="Among the keyword (BM25) candidates.")
    fused: int | None = Field(None, description="After fusing both (hybrid search).")
    merged: int | None = Field(None, description="After merging the knowledge bases by reciprocal rank.")
    rerank: int | None = Field(None, description="After reranking.")


class RetrievalCandidate(BaseModel):
    rank: int | None = Field(description="Its place in the result; null = dropped.")
    dropped_by: Literal["score_threshold", "min_relevance", "top_k", "rerank_top_n"] | None = Field(
        description="What removed it: score_threshold (too far), min_relevance (too little relevance), "
        "top_k (others ranked higher), rerank_top_n (the reranker kept others)."
    )
    knowledge_base_name: str | None
    id: str
    file_name: str
    text: str
    start: int | None = Field(None, description="Character offset of the chunk in its file's text.")
    end: int | None = None
    score: float = Field(description="Distance, 1 - cosine (Chatchat's score).")
    relevance: float = Field(description="0..1, the last stage's score.")
    scores: StageScores
    ranks: StageRanks
    matched_by: list[str] = Field(description="Which searches found it: vector, keyword.")


class RetrievalTestResult(BaseModel):
    query: str = Field(description="The query retrieval used (the rewrite, for a follow-up).")
    rewritten_query: str | None = None
    rewrite_method: str | None = None
    top_k: int
    score_threshold: float
    min_relevance: float
    hybrid: dict[str, bool] = Field(description="Per knowledge base: whether keyword search took part.")
    fusion: str
    reranker: str | None
    kept: int
    candidates: list[RetrievalCandidate]
    timings_ms: dict[str, float] = Field(
        description="Milliseconds per stage: embed, search:<kb>, merge, rerank."
    )
