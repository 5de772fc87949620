"""What a tool is, and how it reports a failure the model should read and recover from.

The agent sees every tool the same way, whether it is built in or lives on an MCP server: a
name, a description, a JSON schema of its arguments, and two ways to read arguments — from a
native call's JSON, or from the line a ReAct model wrote.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Protocol

Arguments = dict[str, Any]
BUILTIN = "builtin"
_FENCE = re.compile(r"^```[\w-]*\s*(.*?)\s*```$", re.DOTALL)


class ToolError(Exception):
    """The tool refused its input or could not do its job; the message is shown to the model."""


class Tool(Protocol):
    name: str
    description: str
    source: str  # "builtin", or the MCP connection the tool comes from

    def parameters(self) -> dict[str, Any]:
        """The arguments as a JSON schema (an ``object``), as OpenAI functions declare them."""
        ...

    def from_json(self, arguments: str) -> Arguments:
        """Arguments from a native call (a JSON object in a string); ToolError says what is wrong."""
        ...

    def from_text(self, text: str) -> Arguments:
        """Arguments from a ReAct ``Action Input``, written as the model pleased."""
        ...

    def shown(self, arguments: Arguments) -> str:
        """The input as people read it in a step (``17 * 23``, or the JSON of several arguments)."""
        ...

    async def invoke(self, arguments: Arguments) -> str: ...


def json_object(text: str) -> Arguments:
    """A JSON object from a call's arguments (an empty string is no arguments)."""
    body = text.strip()
    fence = _FENCE.match(body)
    if fence:
        body = fence.group(1)
    try:
        value = json.loads(body) if body else {}
    except ValueError as exc:
        raise ToolError(f"the arguments are not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ToolError("the arguments must be a JSON object")
    return value


class TextTool:
    """A built-in tool: one string argument in, text out (``run``)."""

    name: ClassVar[str]
    description: ClassVar[str]
    argument: ClassVar[str]  # the one argument's name when the tool is offered as an OpenAI function
    argument_required: ClassVar[bool]
    source = BUILTIN

    async def run(self, tool_input: str) -> str:
        raise NotImplementedError

    def parameters(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {self.argument: {"type": "string"}},
            "required": [self.argument] if self.argument_required else [],
        }

    def from_json(self, arguments: str) -> Arguments:
        return {self.argument: text_input(self, arguments)}

    def from_text(self, text: str) -> Arguments:
        from server.agent.react import clean_input

        return {self.argument: clean_input(text)}

    def shown(self, arguments: Arguments) -> str:
        return str(arguments.get(self.argument, ""))

    async def invoke(self, arguments: Arguments) -> str:
        return await self.run(str(arguments.get(self.argument, "")))


def text_input(tool: TextTool, arguments: str) -> str:
    """The tool's input from a call's JSON arguments; a model may misname the one argument."""
    try:
        values = json_object(arguments)
    except ToolError as exc:
        if "JSON object" in str(exc):
            raise ToolError(f'the arguments must be a JSON object like {{"{tool.argument}": ...}}') from exc
        raise
    value = values.get(tool.argument)
    if value is None and len(values) == 1:
        value = next(iter(values.values()))
    if value is None:
        if tool.argument_required:
            raise ToolError(f"missing argument {tool.argument!r}")
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
