"""Chatchat's ``/knowledge_base/kb_summary_api``: per-file summaries by the chat model, searchable.

``recreate_summary_vector_store`` and ``summary_file_to_vector_store`` stream progress as
Chatchat does (``{"code", "msg", "total", "finished", "doc"}`` per file; a failed file is an
event with its error code, and the others go on); ``summary_doc_ids_to_vector_store`` answers
the summary of the given chunks without storing it; ``search_summary`` searches the summaries.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse

from server.api.deps import CurrentUser, KbAccessDep, KnowledgeBaseServiceDep
from server.api.errors import ApiError, http_status
from server.api.schemas.common import BaseResponse, OpenApiResponses
from server.api.schemas.kb_summary import (
    RecreateSummaryRequest,
    SearchSummaryRequest,
    SummaryDocIdsRequest,
    SummaryFileRequest,
    SummaryHit,
)
from server.api.services.kb_summary_service import KbSummaryService, SummaryCall
from server.knowledge_base.retrieval import similarity

router = APIRouter(prefix="/knowledge_base/kb_summary_api", tags=["knowledge base"])
ERRORS: OpenApiResponses = {
    403: {"model": BaseResponse, "description": "A knowledge base the caller may not change"},
    404: {"model": BaseResponse, "description": "Unknown knowledge base or file"},
    422: {"model": BaseResponse, "description": "Invalid request field"},
    503: {
        "model": BaseResponse,
        "description": "The model server is unreachable (summaries are written by it)",
    },
}
STREAM = {200: {"content": {"text/event-stream": {}}}, **ERRORS}


def get_summary_service(request: Request) -> KbSummaryService:
    return request.app.state.kb_summaries


SummaryServiceDep = Annotated[KbSummaryService, Depends(get_summary_service)]


def _call(
    body: RecreateSummaryRequest | SummaryFileRequest | SummaryDocIdsRequest, default_llm: str
) -> SummaryCall:
    return SummaryCall(
        body.model_name or default_llm, body.temperature, body.max_tokens, body.file_description
    )


def _events(source: AsyncIterator[dict[str, Any]]) -> EventSourceResponse:
    async def events() -> AsyncIterator[str]:
        try:
            async for event in source:
                yield json.dumps(event, ensure_ascii=False)
        except ApiError as exc:
            yield json.dumps({"code": http_status(exc), "msg": exc.message}, ensure_ascii=False)

    return EventSourceResponse(events())


@router.post("/recreate_summary_vector_store", response_class=EventSourceResponse, responses=STREAM)
async def recreate_summary_vector_store(
    body: RecreateSummaryRequest,
    kbs: KnowledgeBaseServiceDep,
    summaries: SummaryServiceDep,
    principal: CurrentUser,
    access: KbAccessDep,
) -> EventSourceResponse:
    """Summarise every file of the knowledge base again (the old summaries are dropped first)."""
    await access.require_write(principal, body.knowledge_base_name)
    files = [f.file_name for f in await kbs.list_files(body.knowledge_base_name) if f.in_db]
    call = _call(body, kbs.settings.default_llm)
    return _events(summaries.recreate(body.knowledge_base_name, files, call))


@router.post("/summary_file_to_vector_store", response_class=EventSourceResponse, responses=STREAM)
async def summary_file_to_vector_store(
    body: SummaryFileRequest,
    kbs: KnowledgeBaseServiceDep,
    summaries: SummaryServiceDep,
    principal: CurrentUser,
    access: KbAccessDep,
) -> EventSourceResponse:
    """Summarise one file (replacing its earlier summary)."""
    await access.require_write(principal, body.knowledge_base_name)
    await kbs.get(body.knowledge_base_name)
    call = _call(body, kbs.settings.default_llm)

    async def one() -> AsyncIterator[dict[str, Any]]:
        await summaries.summarise_file(body.knowledge_base_name, body.file_name, call)
        yield {"code": 200, "msg": f"{body.file_name} summarised", "doc": body.file_name}

    return _events(one())


@router.post("/summary_doc_ids_to_vector_store", response_model=BaseResponse, responses=ERRORS)
async def summary_doc_ids_to_vector_store(
    body: SummaryDocIdsRequest,
    kbs: KnowledgeBaseServiceDep,
    summaries: SummaryServiceDep,
    principal: CurrentUser,
    access: KbAccessDep,
) -> BaseResponse:
    """The summary of the given chunks (as Chatchat: answered, not stored)."""
    await access.require_read(principal, body.knowledge_base_name)
    chunks = await summaries.index.chunks(body.knowledge_base_name, body.doc_ids)
    if not chunks:
        return BaseResponse(msg="no such chunks", data={"summarize": []})
    summary = await summaries.summarise(chunks, _call(body, kbs.settings.default_llm))
    document = {
        "page_content": summary["text"],
        "metadata": {
            "file_description": body.file_description,
            "summary_intermediate_steps": summary["steps"],
            "doc_ids": summary["doc_ids"],
        },
        "type": "Document",
    }
    return BaseResponse(msg="summarised", data={"summarize": [document]})


@router.post("/search_summary", response_model=list[SummaryHit], responses=ERRORS)
async def search_summary(
    body: SearchSummaryRequest, summaries: SummaryServiceDep, principal: CurrentUser, access: KbAccessDep
) -> list[SummaryHit]:
    """The file summaries closest to the query: which files are about it."""
    await access.require_read(principal, body.knowledge_base_name)
    hits = await summaries.index.search(body.knowledge_base_name, body.query, body.top_k)
    return [
        SummaryHit(
            id=h.id,
            file_name=str(h.metadata.get("source", "")),
            summary=h.text,
            score=round(h.distance, 6),
            relevance=round(similarity(h.distance), 6),
            doc_ids=list(h.metadata.get("doc_ids") or []),
        )
        for h in hits
    ]
