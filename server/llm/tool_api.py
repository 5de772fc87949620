"""``/v1/chat/completions`` with ``tools``, in front of FastChat's own handler.

FastChat 0.2.36 drops ``tools`` and refuses ``tool`` messages. This route takes requests that
carry either and serves them two ways, chosen by what the model's worker says it can do
(``/worker_get_capabilities``; FastChat's stock workers do not answer it):

* ``native_tools`` (the remote OpenAI-compatible worker): the messages, tools and tool choice go
  to the worker as they came, and the worker returns the endpoint's tool calls;
* otherwise the tools are rendered into the prompt in the Hermes format
  (:mod:`server.llm.tool_calls`) and the calls are read from the generated text. A worker that
  can constrain decoding to a JSON schema (``json_schema``: llama.cpp) is made to write a valid
  call when ``tool_choice`` is ``required`` or names a function.

Every other request goes to FastChat's handler untouched.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import Any, Literal, TypeGuard

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, ValidationError
from starlette.routing import BaseRoute

from server.llm.tool_calls import (
    ToolCall,
    ToolCallReader,
    ToolChoice,
    ToolDefinition,
    ToolRequest,
    forced_call_schema,
    render_messages,
)

logger = logging.getLogger(__name__)

CAPABILITIES_PATH = "/worker_get_capabilities"
CAPABILITIES_TTL = 60.0


class ChatCompletionWithToolsRequest(BaseModel):
    """FastChat's ``ChatCompletionRequest`` plus OpenAI's tool fields and tool-call messages."""

    model: str
    messages: str | list[dict[str, Any]]
    temperature: float | None = 0.7
    top_p: float | None = 1.0
    top_k: int | None = -1
    n: int | None = 1
    max_tokens: int | None = None
    stop: str | list[str] | None = None
    stream: bool | None = False
    presence_penalty: float | None = 0.0
    frequency_penalty: float | None = 0.0
    user: str | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None

    def tool_request(self) -> ToolRequest:
        return ToolRequest(tools=self.tools or [], tool_choice=self.tool_choice)

    def uses_tools(self) -> bool:
        """Tools offered, or a conversation that already holds tool calls or results."""
        if self.tools:
            return True
        if isinstance(self.messages, str):
            return False
        return any(m.get("role") == "tool" or m.get("tool_calls") for m in self.messages)


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCall] | None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str | None


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletionWithTools(BaseModel):
    id: str = Field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage


class StreamedToolCall(ToolCall):
    index: int


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[StreamedToolCall] | None = None


class StreamChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[StreamChoice]


class _Generation:
    """One tool-aware generation: frames from the worker in, text pieces and calls out."""

    def __init__(
        self, api: ModuleType, gen_params: dict[str, Any], worker_addr: str, reader: ToolCallReader | None
    ) -> None:
        self._api = api
        self._params = gen_params
        self._worker = worker_addr
        self._reader = reader  # None: the worker returns the calls itself
        self.calls: list[ToolCall] = []
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.error: dict[str, Any] | None = None

    async def text(self) -> AsyncIterator[str]:
        previous = ""
        async for frame in self._api.generate_completion_stream(self._params, self._worker):
            if frame.get("error_code", 0) != 0:
                self.error = frame
                return
            current = str(frame.get("text", "")).replace("\ufffd", "")
            delta = current[len(previous) :]
            previous = current if len(current) > len(previous) else previous
            if frame.get("usage"):
                self.usage = Usage.model_validate(frame["usage"])
            if frame.get("finish_reason"):
                self.finish_reason = frame["finish_reason"]
            if frame.get("tool_calls"):
                self.calls = [ToolCall.model_validate(c) for c in frame["tool_calls"]]
            if self._reader is not None:
                delta = self._reader.feed(delta)
            if delta:
                yield delta
        if self._reader is not None:
            rest, self.calls = self._reader.finish()
            if rest:
                yield rest
        if self.calls:
            self.finish_reason = "tool_calls"


def install(app: FastAPI, api: ModuleType) -> None:
    """Put the tool-aware route in front of FastChat's ``/v1/chat/completions``."""

    def is_chat_route(route: BaseRoute) -> TypeGuard[APIRoute]:
        return (
            isinstance(route, APIRoute)
            and route.path == "/v1/chat/completions"
            and "POST" in (route.methods or ())
        )

    # The module attribute is shadowed by a later function of the same name (/api/v1/chat/completions).
    fastchat_handler: Callable[..., Awaitable[Any]] = next(
        r.endpoint for r in app.router.routes if is_chat_route(r)
    )
    from fastchat.constants import ErrorCode
    from fastchat.protocol.openai_api_protocol import ChatCompletionRequest

    capabilities: dict[str, tuple[float, dict[str, Any]]] = {}

    def error(code: int, message: str) -> JSONResponse:
        return api.create_error_response(code, message)

    async def worker_capabilities(worker_addr: str) -> dict[str, Any]:
        """Asked once a minute per address: a model switch may put another engine behind it."""
        cached = capabilities.get(worker_addr)
        if cached is None or time.monotonic() - cached[0] > CAPABILITIES_TTL:
            answer = await api.fetch_remote(worker_addr + CAPABILITIES_PATH, {}, None)
            try:
                value = json.loads(answer)
            except (TypeError, ValueError):
                value = {}
            cached = (
                time.monotonic(),
                value if isinstance(value, dict) and "error_code" not in value else {},
            )
            capabilities[worker_addr] = cached
        return cached[1]

    async def chat_completions(request: ChatCompletionWithToolsRequest) -> Any:
        """Creates a model response for the chat conversation; OpenAI's `tools` and `tool_choice` count."""
        if not request.uses_tools():
            plain = request.model_dump(
                exclude={"tools", "tool_choice", "parallel_tool_calls"}, exclude_unset=True
            )
            try:
                return await fastchat_handler(ChatCompletionRequest.model_validate(plain))
            except ValidationError as exc:
                return error(ErrorCode.VALIDATION_TYPE_ERROR, str(exc))
        tools = request.tool_request()
        try:
            tools.check()
        except ValueError as exc:
            return error(ErrorCode.VALIDATION_TYPE_ERROR, str(exc))
        if (request.n or 1) != 1:
            return error(ErrorCode.PARAM_OUT_OF_RANGE, "n must be 1 when tools are used")
        if isinstance(request.messages, str):
            return error(
                ErrorCode.VALIDATION_TYPE_ERROR, "messages must be a list of messages when tools are used"
            )
        for check in (await api.check_model(request), api.check_requests(request)):
            if check is not None:
                return check
        worker_addr = await api.get_worker_address(request.model)
        can = await worker_capabilities(worker_addr)
        native = bool(can.get("native_tools"))
        try:
            rendered = render_messages(request.messages, tools if not native else ToolRequest())
        except (ValueError, TypeError, AttributeError) as exc:
            return error(ErrorCode.VALIDATION_TYPE_ERROR, f"messages: {exc}")
        gen_params = await api.get_gen_params(
            request.model,
            worker_addr,
            rendered,
            temperature=request.temperature,
            top_p=request.top_p,
            top_k=request.top_k,
            presence_penalty=request.presence_penalty,
            frequency_penalty=request.frequency_penalty,
            max_tokens=request.max_tokens,
            echo=False,
            stop=request.stop,
        )
        max_new_tokens, too_long = await api.check_length(
            request, gen_params["prompt"], gen_params["max_new_tokens"], worker_addr
        )
        if too_long is not None:
            return too_long
        gen_params["max_new_tokens"] = max_new_tokens
        reader: ToolCallReader | None = None
        if native:
            gen_params.update(
                messages=request.messages,
                tools=[t.model_dump() for t in tools.tools],
                tool_choice=_dump_choice(request.tool_choice),
            )
        elif tools.active:
            schema = forced_call_schema(tools)
            forced = schema is not None and bool(can.get("json_schema"))
            if forced:
                gen_params["json_schema"] = schema
            reader = ToolCallReader(forced=forced)
        generation = _Generation(api, gen_params, worker_addr, reader)
        logger.info(
            "chat completion with %d tools (%s)",
            len(tools.tools),
            "native" if native else "constrained" if "json_schema" in gen_params else "prompted",
        )
        if request.stream:
            return StreamingResponse(_stream(request.model, generation), media_type="text/event-stream")
        text = "".join([piece async for piece in generation.text()])
        if generation.error is not None:
            return error(
                generation.error.get("error_code", ErrorCode.INTERNAL_ERROR), generation.error.get("text", "")
            )
        message = AssistantMessage(
            content=text or (None if generation.calls else ""), tool_calls=generation.calls or None
        )
        completion = ChatCompletionWithTools(
            model=request.model,
            usage=generation.usage,
            choices=[Choice(message=message, finish_reason=generation.finish_reason or "stop")],
        )
        return JSONResponse(
            completion.model_dump(exclude_none=True)
            | {
                "choices": [
                    choice.model_dump(exclude_none=True)
                    | {
                        "message": choice.message.model_dump(exclude_none=True)
                        | {"content": choice.message.content}
                    }
                    for choice in completion.choices
                ]
            }
        )

    app.router.routes[:] = [r for r in app.router.routes if not is_chat_route(r)]
    app.add_api_route(
        "/v1/chat/completions",
        chat_completions,
        methods=["POST"],
        dependencies=[Depends(api.check_api_key)],
        response_model=None,
    )


def _dump_choice(choice: ToolChoice | None) -> Any:
    return choice.model_dump() if isinstance(choice, BaseModel) else choice


async def _stream(model: str, generation: _Generation) -> AsyncIterator[str]:
    chunk_id = f"chatcmpl-{uuid.uuid4().hex}"

    def event(delta: Delta, finish: str | None = None) -> str:
        chunk = ChatCompletionChunk(
            id=chunk_id, model=model, choices=[StreamChoice(delta=delta, finish_reason=finish)]
        )
        return f"data: {chunk.model_dump_json(exclude_none=True)}\n\n"

    yield event(Delta(role="assistant"))
    async for piece in generation.text():
        yield event(Delta(content=piece))
    if generation.error is not None:
        yield f"data: {json.dumps(generation.error, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"
        return
    if generation.calls:
        streamed = [StreamedToolCall(index=i, **c.model_dump()) for i, c in enumerate(generation.calls)]
        yield event(Delta(tool_calls=streamed))
    yield event(Delta(), generation.finish_reason or "stop")
    yield "data: [DONE]\n\n"
