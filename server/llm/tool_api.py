"""``/v1/chat/completions`` with ``tools``, in front of FastChat's own handler.

FastChat 0.2.36 drops ``tools`` and refuses ``tool`` messages. This route takes requests that
carry either and serves them two ways, chosen by what the model's worker says it can do
(``/worker_get_capabilities``; FastChat's stock workers do not answer it):

* ``native_tools`` (the remote OpenAI-compatible worker): the messages, tools and tool choice go
  to the worker as they came, and the worker returns the endpoint's tool calls;
* otherwise the prompt is written with the model's own chat template when it renders tools
  (the worker reports the GGUF's; a local Hugging Face directory has its own), else the tools are
  written into the system message in the model family's format, and the calls are read back
  from the generated text in that format (:mod:`server.llm.tool_formats`). A worker that can
  constrain decoding to a JSON schema (``json_schema``: llama.cpp) is made to write a valid call
  when ``tool_choice`` is ``required`` or names a function.

A call that was demanded and cannot be read (cut off by ``max_tokens``, or a worker that cannot
constrain and a model that did not comply) is an error with the reason, never text; no family's
markup is ever part of the returned content. Every other request goes to FastChat's handler
untouched.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, TypeGuard

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastchat.constants import ErrorCode
from pydantic import BaseModel, Field, ValidationError
from starlette.routing import BaseRoute

from server.llm.chat_template import ChatTemplate, from_capabilities, from_model_dir
from server.llm.tool_calls import (
    ToolCall,
    ToolCallReader,
    ToolChoice,
    ToolDefinition,
    ToolRequest,
    forced_call_schema,
    render_messages,
)
from server.llm.tool_formats import FORMATS, FormatName, ToolFormat, detect_format

logger = logging.getLogger(__name__)

CAPABILITIES_PATH = "/worker_get_capabilities"
CAPABILITIES_TTL = 60.0


class ModelToolSettings(BaseModel):
    """What the settings say about one model's tool calls (the launcher passes it to this server)."""

    tool_call_format: FormatName | Literal["auto"] = "auto"
    path: str | None = None  # a local Hugging Face directory may hold the model's chat template


@dataclass(frozen=True)
class ToolProfile:
    """How to talk tools with one model: its format, and its own template when that renders tools."""

    format: FormatName
    template: ChatTemplate | None = None
    json_schema: bool = False
    native: bool = False

    @property
    def fmt(self) -> ToolFormat:
        return FORMATS[self.format]


def tool_profile(
    model: str, capabilities: dict[str, Any], configured: ModelToolSettings | None
) -> ToolProfile:
    template = from_capabilities(capabilities)
    if template is None and configured is not None:
        template = from_model_dir(configured.path)
    chosen = configured.tool_call_format if configured is not None else "auto"
    fmt: FormatName = (
        chosen
        if chosen != "auto"
        else detect_format(
            template.source if template else None, f"{model} {configured.path if configured else ''}"
        )
    )
    return ToolProfile(
        format=fmt,
        template=template if template is not None and template.renders_tools else None,
        json_schema=bool(capabilities.get("json_schema")),
        native=bool(capabilities.get("native_tools")),
    )


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
        self,
        api: ModuleType,
        gen_params: dict[str, Any],
        worker_addr: str,
        reader: ToolCallReader | None,
        demanded: str | None = None,
    ) -> None:
        self._api = api
        self._params = gen_params
        self._worker = worker_addr
        self._reader = reader  # None: the worker returns the calls itself
        self._demanded = demanded  # a call the request demands ("a call" or "a call to NAME")
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
        if self._demanded and not self.calls:
            self.error = {"error_code": int(ErrorCode.INTERNAL_ERROR), "text": self._no_call_reason()}
            return
        if self.calls:
            self.finish_reason = "tool_calls"

    def _no_call_reason(self) -> str:
        if self.finish_reason == "length":
            limit = self._params.get("max_new_tokens")
            return (
                f"the model's {self._demanded} was cut off at the token limit ({limit} tokens) before it "
                "was complete; raise max_tokens"
            )
        return f"the model did not write {self._demanded} that could be read"


def install(app: FastAPI, api: ModuleType, models: dict[str, ModelToolSettings] | None = None) -> None:
    """Put the tool-aware route in front of FastChat's ``/v1/chat/completions``.

    ``models``: what the settings say about each model's tool calls (format, template directory).
    """
    configured = models or {}

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
        profile = tool_profile(
            request.model, await worker_capabilities(worker_addr), configured.get(request.model)
        )
        native = profile.native
        try:
            rendered = render_messages(
                request.messages,
                tools if not native and profile.template is None else ToolRequest(),
                profile.fmt,
            )
            prompt = _template_prompt(profile.template, request.messages, tools) if not native else None
        except (ValueError, TypeError, AttributeError) as exc:
            return error(ErrorCode.VALIDATION_TYPE_ERROR, f"messages: {exc}")
        except Exception as exc:  # a template that raises (jinja2's raise_exception, bad syntax)
            return error(
                ErrorCode.VALIDATION_TYPE_ERROR, f"the model's chat template refused the messages: {exc}"
            )
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
        if prompt is not None:
            gen_params["prompt"] = prompt
        max_new_tokens, too_long = await api.check_length(
            request, gen_params["prompt"], gen_params["max_new_tokens"], worker_addr
        )
        if too_long is not None:
            return too_long
        gen_params["max_new_tokens"] = max_new_tokens
        reader: ToolCallReader | None = None
        demanded: str | None = None
        if native:
            gen_params.update(
                messages=request.messages,
                tools=[t.model_dump() for t in tools.tools],
                tool_choice=_dump_choice(request.tool_choice),
            )
        elif tools.active:
            schema = forced_call_schema(tools)
            forced = schema is not None and profile.json_schema
            if forced:
                gen_params["json_schema"] = schema
            if schema is not None:
                name = tools.forced_name()
                demanded = f"call to {name}" if name else "tool call"
            reader = ToolCallReader(
                forced=forced, fmt=profile.fmt, names=[t.function.name for t in tools.tools]
            )
        generation = _Generation(api, gen_params, worker_addr, reader, demanded)
        logger.info(
            "chat completion with %d tools (%s, %s format%s)",
            len(tools.tools),
            "native" if native else "constrained" if "json_schema" in gen_params else "prompted",
            profile.format,
            ", the model's template" if profile.template is not None else "",
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


def _template_prompt(
    template: ChatTemplate | None, messages: list[dict[str, Any]], tools: ToolRequest
) -> str | None:
    """The prompt from the model's own template (which writes the tools itself), if it has one."""
    if template is None:
        return None
    functions = [t.model_dump() for t in tools.tools] if tools.active else None
    forced = tools.forced_name()
    if forced and tools.active:  # templates have no notion of a forced call: say it as the system would
        note = f"Call the function {forced} now."
        if messages and messages[0].get("role") == "system":
            messages = [
                {**messages[0], "content": f"{messages[0].get('content') or ''}\n\n{note}"},
                *messages[1:],
            ]
        else:
            messages = [{"role": "system", "content": note}, *messages]
    return template.render(messages, functions)


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
