"""The tools one agent run may use, from the settings and the services the app has."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from configs.settings import AgentSettings
from server.agent.tools.base import Tool, ToolError
from server.agent.tools.calculator import CalculatorTool
from server.agent.tools.clock import DateTimeTool
from server.agent.tools.knowledge_base import KnowledgeBaseTool, KnowledgeSearcher
from server.agent.tools.shell import ShellTool
from server.agent.tools.units import UnitConversionTool
from server.agent.tools.web_search import WebSearchTool
from server.search import SearchEngines

logger = logging.getLogger(__name__)


class Toolbox:
    def __init__(self, tools: list[Tool]) -> None:
        self.tools = {tool.name: tool for tool in tools}

    @property
    def names(self) -> list[str]:
        return list(self.tools)

    def find(self, name: str) -> Tool | None:
        """Tolerant lookup: case, spaces and dashes do not matter (``Web Search`` is ``web_search``)."""
        key = re.sub(r"[\s\-]+", "_", name.strip().lower())
        return self.tools.get(key)

    def describe(self) -> str:
        return "\n".join(f"{tool.name}: {tool.description}" for tool in self.tools.values())

    def functions(self) -> list[dict[str, Any]]:
        """The tools as OpenAI function definitions, each with its one string argument."""
        return [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": {
                        "type": "object",
                        "properties": {tool.argument: {"type": "string"}},
                        "required": [tool.argument] if tool.argument_required else [],
                    },
                },
            }
            for tool in self.tools.values()
        ]


def call_input(tool: Tool, arguments: str) -> str:
    """The tool's input from a call's JSON arguments; a model may misname the one argument."""
    try:
        values = json.loads(arguments) if arguments.strip() else {}
    except ValueError as exc:
        raise ToolError(f"the arguments are not valid JSON: {exc}") from exc
    if not isinstance(values, dict):
        raise ToolError(f'the arguments must be a JSON object like {{"{tool.argument}": ...}}')
    value = values.get(tool.argument)
    if value is None and len(values) == 1:
        value = next(iter(values.values()))
    if value is None:
        if tool.argument_required:
            raise ToolError(f"missing argument {tool.argument!r}")
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


async def run_tool(tool: Tool, tool_input: str, observation_max_chars: int) -> tuple[str, bool]:
    """``(output, ok)``; a refusal or a tool's own bug becomes text the model reads, never an exception."""
    try:
        output, ok = await tool.run(tool_input), True
    except ToolError as exc:
        output, ok = f"Error: {exc}", False
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a tool bug must not end the conversation
        logger.exception("tool %s failed", tool.name)
        output, ok = f"Error: the tool failed ({type(exc).__name__})", False
    if len(output) > observation_max_chars:
        output = output[:observation_max_chars] + " …(cut)"
    return output, ok


def build_toolbox(
    settings: AgentSettings, engines: SearchEngines | None, knowledge: KnowledgeSearcher | None
) -> Toolbox:
    tools: list[Tool] = [CalculatorTool(), DateTimeTool(), UnitConversionTool()]
    if engines is not None and engines.names():
        tools.append(WebSearchTool(engines, settings.web_search_top_k))
    if knowledge is not None:
        tools.append(KnowledgeBaseTool(knowledge, settings.web_search_top_k))
    if settings.shell_enabled:
        tools.append(ShellTool(settings.shell_timeout))
    return Toolbox(tools)
