from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter
from sse_starlette import EventSourceResponse

from server.api.deps import ChatServiceDep, ConversationServiceDep, CurrentUser
from server.api.errors import ApiError, http_status
from server.api.schemas.chat import ChatChunk, ChatRequest, StreamError
from server.api.schemas.common import BaseResponse, OpenApiResponses
from server.api.schemas.conversation import FeedbackRequest
from server.api.services.conversation_service import owner_of

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/chat", tags=["chat"])

ERROR_RESPONSES: OpenApiResponses = {
    404: {"model": BaseResponse, "description": "Unknown model, prompt template or message"},
    422: {"model": BaseResponse, "description": "Invalid request field"},
    503: {"model": BaseResponse, "description": "The model server is unreachable"},
}


def _event(payload: ChatChunk | StreamError) -> str:
    return json.dumps(payload.model_dump(exclude_none=True), ensure_ascii=False)


@router.post(
    "/chat",
    responses={200: {"content": {"text/event-stream": {}}, "model": ChatChunk}, **ERROR_RESPONSES},
    response_class=EventSourceResponse,
)
async def chat(request: ChatRequest, service: ChatServiceDep, principal: CurrentUser) -> EventSourceResponse:
    """Chat with a model (no retrieval); every exchange is stored.

    Answers as Server-Sent Events, each `data: {"text": ..., "message_id": ...}`; with
    `stream=false` a single event carries the whole answer, as in Langchain-Chatchat. With a
    `conversation_id` and `history_len` >= 0 the history comes from that stored conversation.
    """
    if not request.stream:
        message_id, text = await service.answer(request, owner_of(principal))
        return EventSourceResponse(iter([_event(ChatChunk(text=text, message_id=message_id))]))

    answer = await service.stream(request, owner_of(principal))

    async def events() -> AsyncIterator[str]:
        try:
            async for delta in answer.text:
                yield _event(ChatChunk(text=delta, message_id=answer.message_id))
        except ApiError as exc:
            logger.warning("chat stream %s failed: %s", answer.message_id, exc.message)
            yield _event(StreamError(code=http_status(exc), msg=exc.message, message_id=answer.message_id))

    return EventSourceResponse(events())


@router.post("/feedback", response_model=BaseResponse, responses={404: {"model": BaseResponse}})
async def feedback(
    request: FeedbackRequest, conversations: ConversationServiceDep, principal: CurrentUser
) -> BaseResponse:
    """Rate an answer (0-100) with an optional reason."""
    await conversations.feedback(request.message_id, request.score, request.reason, owner_of(principal))
    return BaseResponse(msg=f"feedback for message {request.message_id} saved")
