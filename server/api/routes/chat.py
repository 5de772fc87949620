from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter
from sse_starlette import EventSourceResponse

from server.api.deps import ChatServiceDep
from server.api.errors import ApiError
from server.api.schemas.chat import ChatChunk, ChatRequest, StreamError
from server.api.schemas.common import BaseResponse

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/chat", tags=["chat"])

ERROR_RESPONSES = {
    404: {"model": BaseResponse, "description": "Unknown model or prompt template"},
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
async def chat(request: ChatRequest, service: ChatServiceDep) -> EventSourceResponse:
    """Chat with a model (no retrieval).

    Answers as Server-Sent Events, each `data: {"text": ..., "message_id": ...}`; with
    `stream=false` a single event carries the whole answer, as in Langchain-Chatchat.
    """
    message_id = uuid.uuid4().hex
    if not request.stream:
        text = await service.answer(request)
        return EventSourceResponse(iter([_event(ChatChunk(text=text, message_id=message_id))]))

    deltas = await service.stream(request)

    async def events() -> AsyncIterator[str]:
        try:
            async for delta in deltas:
                yield _event(ChatChunk(text=delta, message_id=message_id))
        except ApiError as exc:
            logger.warning("chat stream %s failed: %s", message_id, exc.message)
            yield _event(StreamError(code=exc.status_code, msg=exc.message, message_id=message_id))

    return EventSourceResponse(events())
