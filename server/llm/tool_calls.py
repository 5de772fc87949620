"""OpenAI-style tool calling for models served from a prompt template.

FastChat 0.2.36 renders chat messages into one prompt with a conversation template and knows
nothing of ``tools``. Models trained for tool use read the tools from their prompt and write
calls in their family's own format (:mod:`server.llm.tool_formats`). This module is the
OpenAI side of that, for any format:

* :func:`render_messages` turns OpenAI messages with ``tools``, assistant ``tool_calls`` and
  ``tool`` results into plain user/assistant/system messages any conversation template renders
  (for models whose own chat template cannot render tools: see :mod:`server.llm.chat_template`);
* :class:`ToolCallReader` reads the model's text as it streams, lets plain text through at once,
  holds back what may become a call, and returns the calls it found at the end; no markup of any
  family ever goes out as text;
* :func:`forced_call_schema` is the JSON schema a call must match when ``tool_choice`` demands
  one, for workers that can constrain decoding to it (llama.cpp grammars).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from server.llm.tool_formats import FORMATS, MarkupFilter, ParsedCall, ToolFormat, partial_suffix

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
HERMES = FORMATS["hermes"]


# ---- request side ------------------------------------------------------------------------------


class FunctionDefinition(BaseModel):
    name: str = Field(..., description="Letters, digits, _ . - (at most 64).")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"function name {name!r} must be 1-64 letters, digits, '_', '.' or '-'")
        return name


class ToolDefinition(BaseModel):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class NamedFunction(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    type: Literal["function"] = "function"
    function: NamedFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class ToolRequest(BaseModel):
    """The tool-calling part of a chat completion request."""

    tools: list[ToolDefinition] = Field(default_factory=list)
    tool_choice: ToolChoice | None = None

    def forced_name(self) -> str | None:
        return self.tool_choice.function.name if isinstance(self.tool_choice, NamedToolChoice) else None

    def check(self) -> None:
        """Raise ValueError for a request no model could satisfy (message says what is wrong)."""
        names = [tool.function.name for tool in self.tools]
        if len(set(names)) != len(names):
            raise ValueError("tools: every function needs a distinct name")
        forced = self.forced_name()
        if forced is not None and forced not in names:
            raise ValueError(
                f"tool_choice names function {forced!r}, which is not among tools: {', '.join(names)}"
            )
        if self.tool_choice == "required" and not self.tools:
            raise ValueError("tool_choice 'required' needs at least one tool")

    @property
    def active(self) -> bool:
        return bool(self.tools) and self.tool_choice != "none"


def tools_system_prompt(
    tools: list[ToolDefinition], forced: str | None = None, fmt: ToolFormat = HERMES
) -> str:
    """The family's tool instructions, appended to the system message."""
    return fmt.instructions([t.model_dump() for t in tools], forced)


def text_content(content: Any) -> str:
    """OpenAI message content: a string, or a list of parts of which the text parts count."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return str(content)


def render_messages(
    messages: list[dict[str, Any]], request: ToolRequest, fmt: ToolFormat = HERMES
) -> list[dict[str, str]]:
    """Messages with tools, tool calls and tool results as the plain text a template can render.

    Consecutive ``tool`` results become one user turn (``<tool_response>`` blocks in the Hermes
    format, as Qwen's template does); the tools go at the end of the system message (one is added
    if there is none).
    """
    rendered: list[dict[str, str]] = []
    results: list[str] = []

    def flush_results() -> None:
        if results:
            rendered.append({"role": "user", "content": fmt.results_text(results)})
            results.clear()

    for message in messages:
        role = message.get("role")
        content = text_content(message.get("content"))
        if role == "tool":
            results.append(content)
            continue
        flush_results()
        if role == "assistant" and message.get("tool_calls"):
            calls = fmt.call_text(list(message["tool_calls"]))
            rendered.append({"role": "assistant", "content": f"{content}\n{calls}".strip()})
        elif role in ("system", "user", "assistant"):
            rendered.append({"role": role, "content": content})
        else:
            raise ValueError(f"messages: unknown role {role!r}")
    flush_results()
    if request.active:
        tools = tools_system_prompt(request.tools, request.forced_name(), fmt)
        if rendered and rendered[0]["role"] == "system":
            rendered[0] = {"role": "system", "content": f"{rendered[0]['content']}\n\n{tools}".strip()}
        else:
            rendered.insert(0, {"role": "system", "content": tools})
    return rendered


def forced_call_schema(request: ToolRequest) -> dict[str, Any] | None:
    """JSON schema of ``{"name", "arguments"}`` when a call is required, else None."""
    forced = request.forced_name()
    if not request.tools or (request.tool_choice != "required" and forced is None):
        return None
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool.function.name},
                "arguments": tool.function.parameters or {"type": "object"},
            },
            "required": ["name", "arguments"],
        }
        for tool in request.tools
        if forced is None or tool.function.name == forced
    ]
    return options[0] if len(options) == 1 else {"oneOf": options}


# ---- response side -----------------------------------------------------------------------------


class FunctionCall(BaseModel):
    name: str
    arguments: str = Field(
        ..., description="The arguments as a JSON object in a string, as OpenAI sends them."
    )


class ToolCall(BaseModel):
    id: str = Field(default_factory=lambda: f"call_{uuid.uuid4().hex[:24]}")
    type: Literal["function"] = "function"
    function: FunctionCall


def tool_call(call: ParsedCall) -> ToolCall:
    return ToolCall(
        function=FunctionCall(name=call.name, arguments=json.dumps(call.arguments, ensure_ascii=False))
    )


def parse_call(text: str) -> ToolCall | None:
    """One Hermes call from ``{"name": ..., "arguments": {...}}`` (``parameters``, string arguments too)."""
    calls = HERMES.parse(text, [])
    return tool_call(calls[0]) if calls and len(calls) == 1 else None


@dataclass
class ToolCallReader:
    """Splits a streamed reply into visible text and tool calls, in one family's format.

    Text goes out as soon as it cannot be the start of a call. A reply that opens like a call
    without a marker (Llama 3.1's bare JSON, GLM-4's function name) or a forced call is held whole
    and read at the end. Whatever is shown has every family's markup taken out: a call that could
    not be read is dropped, not shown, and ``unreadable`` says so.
    """

    forced: bool = False
    fmt: ToolFormat = HERMES
    names: list[str] = field(default_factory=list)
    _text: str = ""
    _sent: int = 0
    _start: int | None = None  # where the call being held begins
    calls: list[ToolCall] = field(default_factory=list)
    unreadable: bool = False
    _markup: MarkupFilter = field(default_factory=MarkupFilter)

    def feed(self, delta: str) -> str:
        """Add generated text; return the part that is safe to show now."""
        self._text += delta
        if self.forced or self._start is not None:
            return ""
        start = self.fmt.call_start(self._text, self._sent)
        if start is not None:
            self._start = start
            out, self._sent = self._text[self._sent : start], start
            return self._markup.feed(out)
        if not self._text[: self._sent].strip() and self.fmt.may_lead(self._text.lstrip(), self.names):
            self._start = len(self._text) - len(self._text.lstrip())  # decided at the end
            return ""
        end = len(self._text) - partial_suffix(self._text[self._sent :], self.fmt.call_markers)
        out, self._sent = self._text[self._sent : end], max(self._sent, end)
        return self._markup.feed(out)

    def finish(self) -> tuple[str, list[ToolCall]]:
        """The text not yet shown and the calls found."""
        held = self._text[self._sent :]
        self._sent = len(self._text)
        if self.forced or self._start is not None:
            parsed = self.fmt.parse(held, self.names)
            if parsed:
                self.calls = [tool_call(c) for c in parsed]
                return self._markup.finish(), self.calls
            marked = self.forced or self.fmt.call_start(held, 0) is not None
            if marked:  # a call was begun and cannot be read: nothing of it is shown
                self.unreadable = True
                return self._markup.finish(), []
        return self._markup.feed(held) + self._markup.finish(), []


def add_call_part(calls: dict[int, dict[str, Any]], part: Any) -> None:
    """Assemble a streamed OpenAI tool call: id and name come once, the arguments in pieces."""
    call = calls.setdefault(
        part.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
    )
    if part.id:
        call["id"] = part.id
    if part.function is not None:
        call["function"]["name"] += part.function.name or ""
        call["function"]["arguments"] += part.function.arguments or ""
