"""``/chat/knowledge_base_chat`` and ``/chat/file_chat``: ``{"answer"}`` events, then ``{"docs"}``."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse

from server.api.errors import ApiError
from server.api.schemas.common import BaseResponse
from server.api.schemas.kb_chat import FileChatRequest, KnowledgeBaseChatRequest
from server.api.services.kb_chat_service import KnowledgeBaseChatService, RetrievalAnswer

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/chat", tags=["chat"])


def get_kb_chat_service(request: Request) -> KnowledgeBaseChatService:
    return request.app.state.kb_chat_service


KbChatDep = Annotated[KnowledgeBaseChatService, Depends(get_kb_chat_service)]
ERRORS = {
    400: {"model": BaseResponse, "description": "Invalid knowledge base name or id"},
    404: {"model": BaseResponse, "description": "Unknown knowledge base, model or prompt template"},
    422: {"model": BaseResponse, "description": "Invalid request field"},
    503: {"model": BaseResponse, "description": "The model server is unreachable"},
}


def _event(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


async def _respond(
    service: KnowledgeBaseChatService,
    request: KnowledgeBaseChatRequest | FileChatRequest,
    found: RetrievalAnswer,
    return_direct: bool = False,
) -> EventSourceResponse:
    if return_direct:
        return EventSourceResponse(iter([_event(found.final_event())]))
    if not request.stream:
        text = await service.answer(request, found)
        return EventSourceResponse(iter([_event({"answer": text, **found.final_event()})]))
    deltas = await service.stream(request, found)

    async def events() -> AsyncIterator[str]:
        try:
            async for delta in deltas:
                yield _event({"answer": delta})
        except ApiError as exc:
            logger.warning("knowledge base chat stream failed: %s", exc.message)
            yield _event({"code": exc.status_code, "msg": exc.message})
            return
        yield _event(found.final_event())

    return EventSourceResponse(events())


@router.post(
    "/knowledge_base_chat",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
)
async def knowledge_base_chat(
    request: KnowledgeBaseChatRequest, http: Request, service: KbChatDep
) -> EventSourceResponse:
    """Answer from a knowledge base.

    Streams `data: {"answer": ...}` events, then `data: {"docs": [...], "sources": [...]}`.
    """
    found = await service.retrieve_kb(request, str(http.base_url))
    return await _respond(service, request, found, request.return_direct)


@router.post(
    "/file_chat",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
)
async def file_chat(request: FileChatRequest, http: Request, service: KbChatDep) -> EventSourceResponse:
    """Answer from the files of an ``upload_temp_docs`` upload; events as knowledge_base_chat."""
    found = await service.retrieve_file(request, str(http.base_url))
    return await _respond(service, request, found)
