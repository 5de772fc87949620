"""Wire models of the knowledge-base endpoints (paths, fields and defaults of Langchain-Chatchat 0.2).

Chunking fields default to ``None``, which means "the configured value" (``kb.chunk_size`` ...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from configs.settings import RequestLimitSettings
from server.api.body_checks import BadBody, check_json_value, parse_json
from server.api.schemas.common import KbNames, RelevanceField, StageScores

KB_NAME = Field(..., description="Knowledge base name.", examples=["samples"])


def _json_object(value: Any, limits: RequestLimitSettings | None = None) -> Any:
    """Chatchat sends ``docs`` as a JSON *string* in multipart forms and some JSON bodies.

    That string is a JSON body of its own, so it gets the same checks as one.
    """
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = parse_json(value)
            check_json_value(value, limits or RequestLimitSettings(), ("docs",))
        except BadBody as exc:
            raise ValueError(f"docs: {exc.message}" if exc.field == "body" else str(exc)) from None
    return value


class ChunkOptions(BaseModel):
    chunk_size: int | None = Field(
        None, ge=10, le=100_000, description="Characters per chunk (default: kb.chunk_size)."
    )
    chunk_overlap: int | None = Field(
        None, ge=0, le=10_000, description="Overlap (default: kb.chunk_overlap)."
    )
    zh_title_enhance: bool | None = Field(
        None, description="Chinese title enhancement (default: kb.zh_title_enhance)."
    )


class DocumentIn(BaseModel):
    page_content: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    type: str = "Document"


class DocumentWithScore(BaseModel):
    """A chunk as Chatchat returns it; ``metadata`` carries source, start and end (its span in the file)."""

    id: str
    page_content: str
    metadata: dict[str, Any]
    type: str = "Document"
    score: float = Field(description="Distance: 1 - cosine (0..2, lower is closer).")
    relevance: float | None = Field(
        None, description="0..1, higher is better: the score of the last retrieval stage (none when listing)."
    )
    scores: StageScores | None = None
    knowledge_base_name: str | None = Field(None, description="The knowledge base the chunk is from.")


class KnowledgeBaseInfo(BaseModel):
    kb_name: str
    kb_info: str
    vs_type: str
    embed_model: str
    hybrid: bool
    rerank: bool | None = Field(None, description="Reranks by default; null = follows kb.rerank.")
    file_count: int
    created_at: datetime | None = None


class CreateKnowledgeBaseRequest(BaseModel):
    knowledge_base_name: str = KB_NAME
    vector_store_type: str | None = Field(None, description="Vector store (default: kb.default_vs_type).")
    embed_model: str | None = Field(None, description="Embedding model (default: default_embed_model).")
    kb_info: str = Field("", max_length=2000, description="What the knowledge base holds (shown to agents).")
    hybrid: bool | None = Field(None, description="BM25 + vector search by default (default: kb.hybrid).")
    rerank: bool | None = Field(None, description="Rerank its searches by default (null: follow kb.rerank).")


class UpdateInfoRequest(BaseModel):
    knowledge_base_name: str = KB_NAME
    kb_info: str = Field(..., max_length=2000)
    hybrid: bool | None = Field(None, description="Switch hybrid retrieval for this knowledge base.")
    rerank: bool | None = Field(
        None, description="Switch reranking for this knowledge base (needs kb.reranker)."
    )


class SearchDocsRequest(BaseModel):
    query: str = Field("", description="Question; empty lists the chunks matching file_name/metadata.")
    knowledge_base_name: KbNames
    top_k: int | None = Field(None, ge=1, le=1000, description="Chunks to return (default: kb.top_k).")
    score_threshold: float | None = Field(
        None, ge=0.0, le=2.0, description="Largest distance (default: kb.score_threshold)."
    )
    file_name: str = Field("", description="SQL LIKE pattern on the source file name.")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="First-level metadata keys that must match."
    )
    min_relevance: RelevanceField = None
    hybrid: bool | None = Field(None, description="BM25 + vectors fused (default: the KB's setting).")
    rerank: bool | None = Field(None, description="Rerank the fused chunks (default: kb.rerank).")
    rerank_top_n: int | None = Field(
        None, ge=1, le=100, description="Chunks kept after reranking (default: top_k)."
    )
    reranker: str | None = Field(None, description="A name in rerankers (default: kb.reranker).")
    embed_model: str | None = Field(None, description="If given, must be the KB's embedding model.")


class UploadLimits(BaseModel):
    extensions: list[str] = Field(description="File name endings a loader reads ('.md', '.pdf', ...).")
    max_upload_mb: float = Field(description="The largest file an upload may carry (kb.max_upload_mb).")


class UpdateDocsByIdRequest(BaseModel):
    knowledge_base_name: str = KB_NAME
    docs: dict[str, DocumentIn] = Field(..., description="Chunk id → new chunk.")


class DeleteDocsRequest(BaseModel):
    knowledge_base_name: str = KB_NAME
    file_names: list[str] = Field(..., min_length=1)
    delete_content: bool = Field(False, description="Also delete the files from the content folder.")
    not_refresh_vs_cache: bool = Field(False, description="Skip refreshing derived indexes (BM25) now.")


class UpdateDocsRequest(ChunkOptions):
    knowledge_base_name: str = KB_NAME
    file_names: list[str] = Field(..., min_length=1)
    override_custom_docs: bool = Field(False, description="Re-read files that were indexed from custom docs.")
    docs: dict[str, list[DocumentIn]] = Field(
        default_factory=dict, description="Custom chunks per file name."
    )
    not_refresh_vs_cache: bool = False
    background: bool = Field(
        False, description="Answer at once with the ingestion job's id instead of waiting for it."
    )

    _docs = field_validator("docs", mode="before")(_json_object)


class RecreateVectorStoreRequest(ChunkOptions):
    knowledge_base_name: str = KB_NAME
    allow_empty_kb: bool = True
    vs_type: str | None = None
    embed_model: str | None = Field(
        None, description="Rebuild with this embedding model (recorded with the KB)."
    )
    not_refresh_vs_cache: bool = False
    background: bool = Field(
        False, description="Answer at once with the ingestion job's id instead of waiting for it."
    )


class FileInfo(BaseModel):
    file_name: str
    file_ext: str
    file_size: int
    file_mtime: float
    document_loader_name: str
    text_splitter_name: str
    file_version: int
    docs_count: int
    custom_docs: bool
    in_folder: bool
    in_db: bool
    created_at: datetime | None = None


class EmbedModelInfo(BaseModel):
    name: str
    engine: str
    default: bool


def parse_custom_docs(value: str, limits: RequestLimitSettings) -> dict[str, list[dict[str, Any]]]:
    """The ``docs`` form field of upload_docs: a JSON object {file name: [Document]}."""
    data = _json_object(value, limits)
    if not isinstance(data, dict):
        raise ValueError("docs must be a JSON object mapping file names to lists of documents")
    if not all(isinstance(v, list) for v in data.values()):
        raise ValueError("docs must map each file name to a list of documents")
    return {str(k): [DocumentIn.model_validate(d).model_dump() for d in v] for k, v in data.items()}
