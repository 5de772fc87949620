from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter
from pydantic import BaseModel
from sse_starlette import EventSourceResponse

from server.api.deps import ConversationServiceDep, CurrentUser, SearchChatServiceDep
from server.api.errors import ApiError, http_status
from server.api.schemas.chat import StreamError
from server.api.schemas.common import BaseResponse, OpenApiResponses
from server.api.schemas.search_chat import AnswerChunk, DocsEvent, SearchEngineChatRequest, WholeAnswer
from server.api.services.conversation_service import owner_of
from server.api.services.search_chat_service import chatchat_sources

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/chat", tags=["chat"])

ERROR_RESPONSES: OpenApiResponses = {
    400: {"model": BaseResponse, "description": "Unknown or unconfigured search engine"},
    404: {"model": BaseResponse, "description": "Unknown model or prompt template"},
    422: {"model": BaseResponse, "description": "Invalid request field"},
    429: {"model": BaseResponse, "description": "The search engine is rate-limiting"},
    503: {"model": BaseResponse, "description": "The search engine or the model server is unreachable"},
}


def _event(payload: BaseModel) -> str:
    return json.dumps(payload.model_dump(exclude_none=True), ensure_ascii=False)


@router.post(
    "/search_engine_chat",
    responses={200: {"content": {"text/event-stream": {}}, "model": AnswerChunk}, **ERROR_RESPONSES},
    response_class=EventSourceResponse,
)
async def search_engine_chat(
    request: SearchEngineChatRequest,
    service: SearchChatServiceDep,
    principal: CurrentUser,
    conversations: ConversationServiceDep,
) -> EventSourceResponse:
    """Answer from web search results; every exchange is stored (in `conversation_id` when given).

    Searches first (an unreachable engine is a 503, a rate limit a 429, before any event), then
    streams `data: {"answer": ...}` events and ends with `data: {"docs": [...], "sources": [...]}`,
    the sources as Chatchat's `出处 [n] [title](link) \\n\\nsnippet` strings and structured (index,
    title, url, text). The first event also carries `message_id`, the stored message's id for
    `/chat/feedback`. With `stream=false` one event holds them all.
    """
    owner = owner_of(principal)
    await conversations.check_usable(request.conversation_id, owner)
    if not request.stream:
        message_id, text, sources, rewritten = await service.answer(request, owner)
        whole = WholeAnswer(
            answer=text,
            docs=chatchat_sources(sources),
            sources=sources,
            rewritten_query=rewritten,
            message_id=message_id,
        )
        return EventSourceResponse(iter([_event(whole)]))

    prepared = await service.stream(request, owner)

    async def events() -> AsyncIterator[str]:
        message_id: str | None = prepared.message_id  # on the first event only
        try:
            async for delta in prepared.deltas:
                yield _event(AnswerChunk(answer=delta, message_id=message_id))
                message_id = None
        except ApiError as exc:
            logger.warning("search chat stream %s failed: %s", prepared.message_id, exc.message)
            yield _event(StreamError(code=http_status(exc), msg=exc.message, message_id=message_id))
            return
        yield _event(
            DocsEvent(
                docs=prepared.docs,
                sources=prepared.sources,
                rewritten_query=prepared.rewritten_query,
                message_id=message_id,
            )
        )

    return EventSourceResponse(events())
