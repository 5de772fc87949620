"""OpenAI-style tool calling for models served from a prompt template.

FastChat 0.2.36 renders chat messages into one prompt with a conversation template and knows
nothing of ``tools``. Models trained for tool use (Qwen 2/2.5/3, Hermes, Llama 3.1+ and most
others since) read the tools from the system prompt and answer with
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``: the Hermes format, which Qwen's own
chat template uses. This module is that format on both sides:

* :func:`render_messages` turns OpenAI messages with ``tools``, assistant ``tool_calls`` and
  ``tool`` results into plain user/assistant/system messages any conversation template renders;
* :class:`ToolCallReader` reads the model's text as it streams, lets plain text through at once,
  holds back what may become a call, and returns the calls it found at the end;
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

TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
_CALL_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


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


def tools_system_prompt(tools: list[ToolDefinition], forced: str | None = None) -> str:
    """The Hermes/Qwen tool instructions, appended to the system message."""
    signatures = "\n".join(json.dumps(t.model_dump(), ensure_ascii=False) for t in tools)
    prompt = (
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n"
        f"<tools>\n{signatures}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n"
        '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )
    if forced:
        prompt += f"\n\nCall the function {forced} now."
    return prompt


def _text(content: Any) -> str:
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


def _call_text(call: dict[str, Any]) -> str:
    function = call.get("function") or {}
    arguments = function.get("arguments", "{}")
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        parsed = arguments
    body = json.dumps({"name": function.get("name", ""), "arguments": parsed}, ensure_ascii=False)
    return f"{TOOL_CALL_OPEN}\n{body}\n{TOOL_CALL_CLOSE}"


def render_messages(messages: list[dict[str, Any]], request: ToolRequest) -> list[dict[str, str]]:
    """Messages with tools, tool calls and tool results as the plain text a template can render.

    Consecutive ``tool`` results become one user turn of ``<tool_response>`` blocks, as Qwen's
    template does; the tools go at the end of the system message (one is added if there is none).
    """
    rendered: list[dict[str, str]] = []
    for message in messages:
        role = message.get("role")
        content = _text(message.get("content"))
        if role == "tool":
            block = f"<tool_response>\n{content}\n</tool_response>"
            if (
                rendered
                and rendered[-1]["role"] == "user"
                and rendered[-1]["content"].startswith("<tool_response>")
            ):
                rendered[-1]["content"] += "\n" + block
            else:
                rendered.append({"role": "user", "content": block})
        elif role == "assistant" and message.get("tool_calls"):
            calls = "\n".join(_call_text(c) for c in message["tool_calls"])
            rendered.append({"role": "assistant", "content": f"{content}\n{calls}".strip()})
        elif role in ("system", "user", "assistant"):
            rendered.append({"role": role, "content": content})
        else:
            raise ValueError(f"messages: unknown role {role!r}")
    if request.active:
        tools = tools_system_prompt(request.tools, request.forced_name())
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


def parse_call(text: str) -> ToolCall | None:
    """One call from ``{"name": ..., "arguments": {...}}`` (``parameters`` and string arguments too)."""
    body = text.strip()
    fence = _FENCE.match(body)
    if fence:
        body = fence.group(1)
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"].strip():
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ToolCall(
        function=FunctionCall(name=value["name"].strip(), arguments=json.dumps(arguments, ensure_ascii=False))
    )


@dataclass
class ToolCallReader:
    """Splits a streamed reply into visible text and tool calls.

    Text goes out as soon as it cannot be the start of a call. A reply that opens with ``{``
    (Llama 3.1 writes bare JSON calls) or a forced call is held whole and read at the end.
    """

    forced: bool = False
    _text: str = ""
    _sent: int = 0
    _holding: bool = False
    calls: list[ToolCall] = field(default_factory=list)

    def feed(self, delta: str) -> str:
        """Add generated text; return the part that is safe to show now."""
        self._text += delta
        if self.forced or self._holding:
            return ""
        if TOOL_CALL_OPEN in self._text[self._sent :]:
            self._holding = True
            start = self._text.index(TOOL_CALL_OPEN, self._sent)
            out, self._sent = self._text[self._sent : start], start
            return out
        if not self._text[: self._sent].strip() and self._text.lstrip().startswith(("{", "```")):
            self._holding = True  # a bare JSON call; decided at the end
            return ""
        end = len(self._text) - _partial_open(self._text, self._sent)
        out, self._sent = self._text[self._sent : end], max(self._sent, end)
        return out

    def finish(self) -> tuple[str, list[ToolCall]]:
        """The text not yet shown and the calls found; unreadable calls are returned as text."""
        rest = self._text[self._sent :]
        self._sent = len(self._text)
        blocks = list(_CALL_BLOCK.finditer(rest))
        if blocks:
            calls = [parse_call(b.group(1)) for b in blocks]
            if all(calls):
                self.calls = [c for c in calls if c is not None]
                return rest[: blocks[0].start()].rstrip(), self.calls
            return rest, []
        call = parse_call(rest)
        if call is not None and (self._holding or self.forced):
            self.calls = [call]
            return "", self.calls
        return rest, []


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


def _partial_open(text: str, start: int) -> int:
    """How many trailing characters could still grow into ``<tool_call>``."""
    tail = text[start:]
    for size in range(min(len(TOOL_CALL_OPEN) - 1, len(tail)), 0, -1):
        if tail.endswith(TOOL_CALL_OPEN[:size]):
            return size
    return 0
