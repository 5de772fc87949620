"""``/chat/agent_chat``: the agent's events on the wire, and each run stored as one exchange."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sse_starlette import EventSourceResponse

from server.agent.loop import AnswerDelta, Event, Failure, Final, ToolStep
from server.api.access import CallerDep
from server.api.deps import (
    AgentServiceDep,
    ConversationServiceDep,
    CurrentUser,
    ExchangeRecorderDep,
    KnowledgeSearcherDep,
    PromptsDep,
    SettingsDep,
)
from server.api.errors import ApiError, http_status
from server.api.schemas.agent_chat import (
    AgentChatRequest,
    FinalAnswerEvent,
    StepDetail,
    ToolsEvent,
    WholeAgentAnswer,
)
from server.api.schemas.chat import StreamError
from server.api.schemas.common import BaseResponse, OpenApiResponses
from server.api.schemas.search_chat import AnswerChunk
from server.api.services.agent_service import CHAT_TYPE
from server.api.services.conversation_service import owner_of
from server.api.services.exchange_recorder import Exchange

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/chat", tags=["chat"])

ERROR_RESPONSES: OpenApiResponses = {
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
    detail = StepDetail(
        index=step.index, tool=step.tool, input=step.tool_input, output=step.output, ok=step.ok
    )
    return ToolsEvent(tools=lines, step=detail)


def _wire(event: Event) -> BaseModel:
    if isinstance(event, ToolStep):
        return _tools_event(event)
    if isinstance(event, AnswerDelta):
        return AnswerChunk(answer=event.text)
    if isinstance(event, Failure):
        return StreamError(code=http_status(event.error), msg=event.error.message)
    return FinalAnswerEvent(final_answer=event.text)


def _event(payload: BaseModel, message_id: str | None = None) -> str:
    """One event; the first of a stream also carries the stored message's id (for /chat/feedback)."""
    # A step's ``tool`` is null when the reply was no valid call: that null is data, not an absent field.
    data = payload.model_dump(exclude_none=not isinstance(payload, ToolsEvent))
    return json.dumps({**data, "message_id": message_id} if message_id else data, ensure_ascii=False)


class _RunRecord:
    """What one run showed, kept as its stored exchange: the steps, the answer, the final answer."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.steps: list[ToolsEvent] = []
        self.answer = ""
        self.final: str | None = None

    def see(self, event: Event) -> BaseModel:
        """Fold one event in; returns its wire form."""
        self.exchange.first_output()
        if isinstance(event, ToolStep):
            step = _tools_event(event)
            self.steps.append(step)
            return step
        if isinstance(event, AnswerDelta):
            self.answer += event.text
        elif isinstance(event, Failure):
            self.exchange.failed(http_status(event.error), event.error.message)
        elif isinstance(event, Final):
            self.final = event.text
        return _wire(event)

    @property
    def tool_lines(self) -> list[str]:
        return [line for step in self.steps for line in step.tools]

    async def finish(self) -> None:
        """Store the final answer (or, cut short, the answer so far) with the steps that led to it."""
        meta: dict[str, Any] = {"tools": [step.step.model_dump() for step in self.steps]}
        if self.final is not None:
            meta["final_answer"] = self.final
        await self.exchange.finish(self.answer if self.final is None else self.final, meta)


@router.post(
    "/agent_chat",
    responses={200: {"content": {"text/event-stream": {}}, "model": ToolsEvent}, **ERROR_RESPONSES},
    response_class=EventSourceResponse,
)
async def agent_chat(
    request: AgentChatRequest,
    service: AgentServiceDep,
    knowledge: KnowledgeSearcherDep,
    recorder: ExchangeRecorderDep,
    prompts: PromptsDep,
    settings: SettingsDep,
    principal: CurrentUser,
    conversations: ConversationServiceDep,
    caller: CallerDep,
) -> EventSourceResponse:
    """Answer with a tool-using agent (calculator, date/time, unit conversion, web search, MCP tools...).

    Streams `data: {"tools": [...]}` for each tool step (name, status, input, output), the answer
    as `data: {"answer": ...}` chunks, and always ends with `data: {"final_answer": ...}`, also
    when the step or time limit stopped the agent. The first event also carries `message_id`, the
    stored message's id for `/chat/feedback`; every run is stored (in `conversation_id` when
    given) with its steps and final answer. With `stream=false` one event holds `tools`,
    `answer`, `final_answer` and `message_id`.
    """
    started = time.perf_counter()
    prompts.get(CHAT_TYPE, request.prompt_name)  # an unknown template is a 404 before anything is stored
    await conversations.check_usable(request.conversation_id, owner_of(principal))
    exchange = recorder.begin(
        request.query,
        chat_type=CHAT_TYPE,
        model=request.model_name or settings.default_llm,
        conversation_id=request.conversation_id,
        started=started,
        meta={"temperature": request.temperature, "prompt_name": request.prompt_name},
        owner=owner_of(principal),
    )
    try:
        events = await service.start(request, knowledge, caller)
    except ApiError as exc:
        await exchange.abort(exc)
        raise
    run = _RunRecord(exchange)
    if request.stream:

        async def stream() -> AsyncIterator[str]:
            message_id: str | None = exchange.message_id  # on the first event only
            try:
                async for event in events:
                    yield _event(run.see(event), message_id)
                    message_id = None
            except (asyncio.CancelledError, GeneratorExit):  # the client disconnected mid-answer
                exchange.cut_short()
                raise
            finally:
                await run.finish()

        return EventSourceResponse(stream())

    try:
        async for event in events:
            run.see(event)
    finally:
        await run.finish()
    whole = WholeAgentAnswer(
        tools=run.tool_lines, answer=run.answer, final_answer=run.final or "", message_id=exchange.message_id
    )
    return EventSourceResponse(iter([_event(whole)]))
