"""``POST /v1/rerank``: this backend's configured rerankers over the common rerank wire shape.

So a second instance (or any client speaking the shape) can use a cross-encoder loaded here.
"""

from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import KnowledgeBaseServiceDep
from server.api.schemas.common import BaseResponse, OpenApiResponses
from server.api.schemas.rerank import RerankDocument, RerankRequest, RerankResponse, RerankResult

router = APIRouter(tags=["knowledge_base"])
ERRORS: OpenApiResponses = {
    400: {"model": BaseResponse, "description": "Unknown or unusable reranker"},
    422: {"model": BaseResponse, "description": "Invalid request field"},
}


@router.post("/v1/rerank", response_model=RerankResponse, responses=ERRORS)
async def rerank(request: RerankRequest, service: KnowledgeBaseServiceDep) -> RerankResponse:
    """Score each document against the query with the named reranker, best first."""
    reranker = service.rerankers.get(request.model)
    scores = await reranker.scores(request.query, request.documents)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[: request.top_n or len(scores)]
    return RerankResponse(
        model=request.model,
        results=[
            RerankResult(
                index=i,
                relevance_score=round(scores[i], 6),
                document=RerankDocument(text=request.documents[i]) if request.return_documents else None,
            )
            for i in order
        ],
    )
