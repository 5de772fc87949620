"""An MCP server's tool as one of the agent's tools: ``<server>__<tool>``, with the server's JSON schema.

Whatever goes wrong on the server's side (down, slow, an error result) comes back as a
:class:`ToolError`, which the agent shows the model as the tool's observation; the run goes on.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mcp.types import CallToolResult
from mcp.types import Tool as McpToolInfo

from server.agent.mcp.connection import Connection, ServerUnavailable
from server.agent.react import clean_input
from server.agent.tools.base import Arguments, ToolError, json_object

SEPARATOR = "__"
MAX_NAME = 64  # OpenAI's limit on function names
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def tool_name(server: str, tool: str) -> str:
    return (f"{server}{SEPARATOR}{_UNSAFE.sub('_', tool)}")[:MAX_NAME]


def tool_description(info: McpToolInfo) -> str:
    title = info.title or (info.annotations.title if info.annotations else None)
    return (info.description or title or info.name).strip()


def tool_parameters(info: McpToolInfo) -> dict[str, Any]:
    """The tool's input schema, always an object schema (as OpenAI functions need)."""
    schema = dict(info.input_schema or {})
    if schema.get("type") != "object":
        schema = {"type": "object", "properties": {}}
    schema.setdefault("properties", {})
    return schema


def result_text(result: CallToolResult, max_chars: int) -> str:
    """The result's content as text for the model, cut at ``max_chars`` while it is assembled."""
    parts: list[str] = []
    size = 0
    for block in result.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            text = str(getattr(block, "text", ""))
        elif kind == "resource":
            resource = getattr(block, "resource", None)
            text = str(getattr(resource, "text", "")) or f"[resource {getattr(resource, 'uri', '')}]"
        elif kind == "resource_link":
            text = f"[{getattr(block, 'name', '') or 'link'}: {getattr(block, 'uri', '')}]"
        else:  # images, audio: the model here reads text only
            text = f"[{kind or 'content'} {getattr(block, 'mime_type', '')}]".replace(" ]", "]")
        parts.append(text)
        size += len(text)
        if size > max_chars:
            break
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    return "\n".join(parts)[: max_chars + 1]


class McpTool:
    def __init__(self, connection: Connection, info: McpToolInfo, max_chars: int) -> None:
        self._connection = connection
        self._info = info
        self._max_chars = max_chars
        self.source = connection.spec.name
        self.remote_name = info.name
        self.name = tool_name(connection.spec.name, info.name)
        self.description = tool_description(info)

    def parameters(self) -> dict[str, Any]:
        return tool_parameters(self._info)

    def _properties(self) -> dict[str, Any]:
        properties = self.parameters().get("properties")
        return properties if isinstance(properties, dict) else {}

    def from_json(self, arguments: str) -> Arguments:
        return json_object(arguments)

    def from_text(self, text: str) -> Arguments:
        """A ReAct input: a JSON object; or, for a tool of one argument, the text is that argument."""
        body = text.strip()
        if body.startswith(("{", "```")):
            return json_object(body)
        properties = self._properties()
        if not properties:
            return {}
        if len(properties) == 1:
            [(name, schema)] = properties.items()
            value: Any = clean_input(body)
            kind = schema.get("type") if isinstance(schema, dict) else None
            if kind in ("integer", "number"):
                try:
                    value = int(value) if kind == "integer" else float(value)
                except ValueError as exc:
                    raise ToolError(f"{name!r} must be a number") from exc
            return {name: value}
        fields = ", ".join(f'"{name}"' for name in properties)
        raise ToolError(f"give the input as a JSON object with {fields}")

    def shown(self, arguments: Arguments) -> str:
        return json.dumps(arguments, ensure_ascii=False, default=str)

    async def invoke(self, arguments: Arguments) -> str:
        try:
            result = await self._connection.call(self.remote_name, arguments)
        except ServerUnavailable as exc:
            raise ToolError(str(exc)) from exc
        text = result_text(result, self._max_chars)
        if result.is_error:
            raise ToolError(text or f"{self.name} failed")
        return text or "(no output)"
