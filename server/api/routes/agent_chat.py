from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter
from pydantic import BaseModel
from sse_starlette import EventSourceResponse

from server.agent.loop import AnswerDelta, Event, Failure, Final, ToolStep
from server.api.deps import AgentServiceDep, KnowledgeSearcherDep
from server.api.schemas.agent_chat import (
    AgentChatRequest,
    FinalAnswerEvent,
    StepDetail,
    ToolsEvent,
    WholeAgentAnswer,
)
from server.api.schemas.chat import StreamError
from server.api.schemas.common import BaseResponse
from server.api.schemas.search_chat import AnswerChunk

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/chat", tags=["chat"])

ERROR_RESPONSES = {
    404: {"model": BaseResponse, "description": "Unknown model or prompt template"},
    422: {"model": BaseResponse, "description": "Invalid request field"},
    503: {"model": BaseResponse, "description": "The model server is unreachable"},
}


def _tools_event(step: ToolStep) -> ToolsEvent:
    lines = [
        f"工具名称: {step.tool if step.tool is not None else '(invalid call)'}",
        f"工具状态: {'调用成功' if step.ok else '调用失败'}",
        f"工具输入: {step.tool_input}",
        f"工具输出: {step.output}",
    ]
    detail = StepDetail(index=step.index, tool=step.tool, input=step.tool_input, output=step.output, ok=step.ok)
    return ToolsEvent(tools=lines, step=detail)


def _wire(event: Event) -> BaseModel:
    if isinstance(event, ToolStep):
        return _tools_event(event)
    if isinstance(event, AnswerDelta):
        return AnswerChunk(answer=event.text)
    if isinstance(event, Failure):
        return StreamError(code=event.code, msg=event.msg)
    return FinalAnswerEvent(final_answer=event.text)


def _event(payload: BaseModel) -> str:
    # A step's ``tool`` is null when the reply was no valid call: that null is data, not an absent field.
    dumped = payload.model_dump(exclude_none=not isinstance(payload, ToolsEvent))
    return json.dumps(dumped, ensure_ascii=False)


@router.post(
    "/agent_chat",
    responses={200: {"content": {"text/event-stream": {}}, "model": ToolsEvent}, **ERROR_RESPONSES},
    response_class=EventSourceResponse,
)
async def agent_chat(
    request: AgentChatRequest, service: AgentServiceDep, knowledge: KnowledgeSearcherDep
) -> EventSourceResponse:
    """Answer with a tool-using agent (calculator, date/time, unit conversion, web search, ...).

    Streams `data: {"tools": [...]}` for each tool step (name, status, input, output), the answer
    as `data: {"answer": ...}` chunks, and always ends with `data: {"final_answer": ...}`, also
    when the step or time limit stopped the agent. With `stream=false` one event holds
    `tools`, `answer` and `final_answer`.
    """
    events = await service.start(request, knowledge)
    if request.stream:
        async def stream() -> AsyncIterator[str]:
            async for event in events:
                yield _event(_wire(event))

        return EventSourceResponse(stream())

    tools: list[str] = []
    answer, final = "", ""
    async for event in events:
        if isinstance(event, ToolStep):
            tools += _tools_event(event).tools
        elif isinstance(event, AnswerDelta):
            answer += event.text
        elif isinstance(event, Final):
            final = event.text
    return EventSourceResponse(iter([_event(WholeAgentAnswer(tools=tools, answer=answer, final_answer=final))]))
