"""What a tool is, and how it reports a failure the model should read and recover from."""

from __future__ import annotations

from typing import Protocol


class ToolError(Exception):
    """The tool refused its input or could not do its job; the message is shown to the model."""


class Tool(Protocol):
    name: str
    description: str
    argument: str  # the one argument's name when the tool is offered as an OpenAI function
    argument_required: bool

    async def run(self, tool_input: str) -> str: ...
