"""Wire models of knowledge-base chat and file chat (Langchain-Chatchat 0.2 fields and events)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.api.schemas.chat import HistoryMessage
from server.api.schemas.common import ConversationIdField, KbNames, NonBlankStr, RelevanceField, StageScores


class _RetrievalChat(BaseModel):
    query: NonBlankStr = Field(..., description="The user's question.")
    conversation_id: ConversationIdField = ""
    top_k: int | None = Field(None, ge=1, le=100, description="Chunks to retrieve (default: kb.top_k).")
    score_threshold: float | None = Field(
        None, ge=0.0, le=2.0, description="Largest distance, 1 - cosine (default: kb.score_threshold)."
    )
    min_relevance: RelevanceField = None
    history: list[HistoryMessage] = Field(default_factory=list)
    stream: bool = False
    model_name: str | None = None
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1)
    prompt_name: str = Field("default", min_length=1, description="Prompt template (knowledge_base_chat).")
    rewrite_query: bool | None = Field(
        None,
        description="With history, rewrite the question into a standalone query before retrieval "
        "(default: kb.rewrite_query); the rewrite is reported as `rewritten_query`.",
    )


class KnowledgeBaseChatRequest(_RetrievalChat):
    knowledge_base_name: KbNames
    return_direct: bool = Field(False, description="Return the retrieved chunks without asking the model.")
    hybrid: bool | None = Field(None, description="BM25 + vectors (default: the knowledge base's setting).")
    rerank: bool | None = Field(None, description="Rerank the fused chunks (default: kb.rerank).")
    rerank_top_n: int | None = Field(
        None, ge=1, le=100, description="Chunks kept after reranking (default: top_k)."
    )
    reranker: str | None = Field(None, description="A name in rerankers (default: kb.reranker).")


class FileChatRequest(_RetrievalChat):
    knowledge_id: str = Field(..., description="The id upload_temp_docs returned.")


class Source(BaseModel):
    """A cited chunk, structured (the ``docs`` strings carry the same for Chatchat clients)."""

    index: int
    file_name: str
    url: str
    text: str
    score: float = Field(description="Distance, 1 - cosine (Chatchat's score: 0..2, lower is closer).")
    relevance: float = Field(description="0..1, higher is better: the last retrieval stage's score.")
    scores: StageScores = Field(default_factory=StageScores)
    knowledge_base_name: str | None = Field(None, description="The knowledge base the chunk is from.")
    id: str
    start: int | None = Field(None, description="Character offset of the chunk in the file's text.")
    end: int | None = None
