"""``/chat/knowledge_base_chat`` and ``/chat/file_chat``: ``{"answer"}`` events, then ``{"docs"}``."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse

from server.api.deps import ConversationServiceDep, CurrentUser, KbAccessDep, TempOwnersDep
from server.api.errors import ApiError, http_status
from server.api.schemas.common import BaseResponse, OpenApiResponses, kb_name_list
from server.api.schemas.kb_chat import FileChatRequest, KnowledgeBaseChatRequest
from server.api.services.conversation_service import owner_of
from server.api.services.kb_chat_service import KnowledgeBaseChatService, RetrievalAnswer

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/chat", tags=["chat"])


def get_kb_chat_service(request: Request) -> KnowledgeBaseChatService:
    return request.app.state.kb_chat_service


KbChatDep = Annotated[KnowledgeBaseChatService, Depends(get_kb_chat_service)]
ERRORS: OpenApiResponses = {
    400: {"model": BaseResponse, "description": "Invalid knowledge base name or id"},
    404: {"model": BaseResponse, "description": "Unknown knowledge base, model or prompt template"},
    422: {"model": BaseResponse, "description": "Invalid request field"},
    503: {"model": BaseResponse, "description": "The model server is unreachable"},
}


def _event(payload: dict[str, Any], message_id: str | None = None) -> str:
    """One event; the first of a stream also carries the stored message's id (for /chat/feedback)."""
    return json.dumps({**payload, "message_id": message_id} if message_id else payload, ensure_ascii=False)


async def _respond(
    service: KnowledgeBaseChatService,
    request: KnowledgeBaseChatRequest | FileChatRequest,
    found: RetrievalAnswer,
    return_direct: bool = False,
) -> EventSourceResponse:
    if return_direct:
        message_id = await service.direct(request, found)
        return EventSourceResponse(iter([_event(found.final_event(), message_id)]))
    if not request.stream:
        message_id, text = await service.answer(request, found)
        return EventSourceResponse(iter([_event({"answer": text, **found.final_event()}, message_id)]))
    answer = await service.stream(request, found)

    async def events() -> AsyncIterator[str]:
        message_id: str | None = answer.message_id  # on the first event only
        try:
            async for delta in answer.text:
                yield _event({"answer": delta}, message_id)
                message_id = None
        except ApiError as exc:
            logger.warning("knowledge base chat stream %s failed: %s", answer.message_id, exc.message)
            yield _event({"code": http_status(exc), "msg": exc.message}, message_id)
            return
        yield _event(found.final_event(), message_id)

    return EventSourceResponse(events())


@router.post(
    "/knowledge_base_chat",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
)
async def knowledge_base_chat(
    request: KnowledgeBaseChatRequest,
    http: Request,
    service: KbChatDep,
    principal: CurrentUser,
    access: KbAccessDep,
    conversations: ConversationServiceDep,
) -> EventSourceResponse:
    """Answer from a knowledge base; every exchange is stored (in `conversation_id` when given).

    Streams `data: {"answer": ...}` events, then `data: {"docs": [...], "sources": [...]}`; the
    first event also carries `message_id`, the stored message's id for `/chat/feedback`.
    """
    for name in kb_name_list(request.knowledge_base_name):
        await access.require_read(principal, name)
    await conversations.check_usable(request.conversation_id, owner_of(principal))
    found = await service.retrieve_kb(request, str(http.base_url), owner_of(principal))
    return await _respond(service, request, found, request.return_direct)


@router.post(
    "/file_chat",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
)
async def file_chat(
    request: FileChatRequest,
    http: Request,
    service: KbChatDep,
    principal: CurrentUser,
    owners: TempOwnersDep,
    conversations: ConversationServiceDep,
) -> EventSourceResponse:
    """Answer from the files of an ``upload_temp_docs`` upload; events as knowledge_base_chat."""
    await owners.require(principal, request.knowledge_id)
    await conversations.check_usable(request.conversation_id, owner_of(principal))
    found = await service.retrieve_file(request, str(http.base_url), owner_of(principal))
    return await _respond(service, request, found)
