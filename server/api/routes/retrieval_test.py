"""``POST /knowledge_base/retrieval_test``: the view that answers "why didn't it find my document"."""

from __future__ import annotations

from fastapi import APIRouter, Request

from server.api.deps import CurrentUser, KbAccessDep, KnowledgeBaseServiceDep
from server.api.schemas.common import BaseResponse, OpenApiResponses, kb_name_list
from server.api.schemas.retrieval_test import RetrievalCandidate, RetrievalTestRequest, RetrievalTestResult
from server.api.services.query_rewriter import QueryRewriter
from server.knowledge_base.explain import describe, explain

router = APIRouter(prefix="/knowledge_base", tags=["knowledge base"])
ERRORS: OpenApiResponses = {
    400: {"model": BaseResponse, "description": "Invalid name, or an unknown reranker"},
    403: {"model": BaseResponse, "description": "A knowledge base the caller may not read"},
    404: {"model": BaseResponse, "description": "Unknown knowledge base"},
    422: {"model": BaseResponse, "description": "Invalid request field"},
    503: {"model": BaseResponse, "description": "The model server is unreachable (rewriting a follow-up)"},
}


@router.post("/retrieval_test", response_model=RetrievalTestResult, responses=ERRORS)
async def retrieval_test(
    body: RetrievalTestRequest,
    http: Request,
    kbs: KnowledgeBaseServiceDep,
    principal: CurrentUser,
    access: KbAccessDep,
) -> RetrievalTestResult:
    """Search as knowledge_base_chat would and show every candidate: its rank and score at each stage
    (vector, keyword, fused, merged, rerank), which threshold or cut dropped it, and its text and
    character span. Nothing is stored and no answer is generated."""
    names = kb_name_list(body.knowledge_base_name)
    for name in names:
        await access.require_read(principal, name)
    settings = kbs.settings
    rewriter: QueryRewriter = http.app.state.query_rewriter
    rewritten = await rewriter.rewrite(
        body.query, body.history, body.model_name or settings.default_llm, body.rewrite_query
    )
    top_k = body.top_k or settings.kb.top_k
    threshold = settings.kb.score_threshold if body.score_threshold is None else body.score_threshold
    floor = settings.kb.min_relevance if body.min_relevance is None else body.min_relevance
    result = await explain(
        kbs,
        names,
        rewritten.query,
        top_k=top_k,
        score_threshold=threshold,
        hybrid=body.hybrid,
        min_relevance=floor,
        rerank=body.rerank,
        rerank_top_n=body.rerank_top_n,
        reranker=body.reranker,
    )
    return RetrievalTestResult(
        query=rewritten.query,
        rewritten_query=rewritten.query if rewritten.rewritten else None,
        rewrite_method=rewritten.method or None,
        top_k=top_k,
        score_threshold=threshold,
        min_relevance=floor,
        hybrid=result.hybrid,
        fusion=settings.kb.fusion,
        reranker=result.reranker,
        kept=len(result.kept),
        candidates=[RetrievalCandidate(**describe(c)) for c in result.candidates],
        timings_ms=result.timings_ms,
    )
