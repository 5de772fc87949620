"""The tools one agent run may use: the built-in ones the settings allow, plus those of MCP servers."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from typing import Any

from configs.settings import AgentSettings
from server.agent.tools.base import Arguments, TextTool, Tool, ToolError, text_input
from server.agent.tools.calculator import CalculatorTool
from server.agent.tools.clock import DateTimeTool
from server.agent.tools.knowledge_base import KnowledgeBaseTool, KnowledgeSearcher
from server.agent.tools.shell import ShellTool
from server.agent.tools.units import UnitConversionTool
from server.agent.tools.web_search import WebSearchTool
from server.search import SearchEngines

logger = logging.getLogger(__name__)
CUT_MARK = " …(cut)"


def tool_key(name: str) -> str:
    """How names are compared: case, spaces and dashes do not matter (``Web Search`` is ``web_search``)."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


class Toolbox:
    def __init__(self, tools: Iterable[Tool]) -> None:
        self.tools: dict[str, Tool] = {}
        for tool in tools:
            if tool_key(tool.name) in {tool_key(name) for name in self.tools}:
                logger.warning("tool %s is offered twice; the first one is kept", tool.name)
                continue
            self.tools[tool.name] = tool
        self._keys = {tool_key(name): tool for name, tool in self.tools.items()}

    @property
    def names(self) -> list[str]:
        return list(self.tools)

    def find(self, name: str) -> Tool | None:
        return self._keys.get(tool_key(name))

    def describe(self) -> str:
        """The tools for a ReAct prompt; a tool with several arguments says to pass a JSON object."""
        return "\n".join(f"{tool.name}: {_with_input_hint(tool)}" for tool in self.tools.values())

    def functions(self) -> list[dict[str, Any]]:
        """The tools as OpenAI function definitions."""
        return [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters(),
                },
            }
            for tool in self.tools.values()
        ]

    def only(self, names: Iterable[str]) -> Toolbox:
        """The tools named (loosely), in this toolbox's order; ToolError names any unknown one."""
        wanted = list(names)
        unknown = [name for name in wanted if self.find(name) is None]
        if unknown:
            raise ToolError(
                f"unknown tools: {', '.join(map(repr, unknown))}; available: {', '.join(self.names)}"
            )
        keys = {tool_key(name) for name in wanted}
        return Toolbox(tool for tool in self.tools.values() if tool_key(tool.name) in keys)


def _with_input_hint(tool: Tool) -> str:
    if isinstance(tool, TextTool):
        return tool.description
    properties = tool.parameters().get("properties") or {}
    if not properties:
        return f"{tool.description} Input: nothing."
    fields = ", ".join(f'"{name}"' for name in properties)
    return f"{tool.description} Input: a JSON object with {fields}."


def call_input(tool: TextTool, arguments: str) -> str:
    """A built-in tool's one input from a native call's JSON arguments."""
    return text_input(tool, arguments)


def cap(output: str, max_chars: int) -> str:
    return output if len(output) <= max_chars else output[:max_chars] + CUT_MARK


async def run_tool(tool: Tool, arguments: Arguments, observation_max_chars: int) -> tuple[str, bool]:
    """``(output, ok)``; a refusal or a tool's own bug becomes text the model reads, never an exception."""
    try:
        output, ok = await tool.invoke(arguments), True
    except ToolError as exc:
        output, ok = f"Error: {exc}", False
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a tool bug must not end the conversation
        logger.exception("tool %s failed", tool.name)
        output, ok = f"Error: the tool failed ({type(exc).__name__})", False
    return cap(output, observation_max_chars), ok


def builtin_tools(
    settings: AgentSettings, engines: SearchEngines | None, knowledge: KnowledgeSearcher | None
) -> list[Tool]:
    tools: list[Tool] = [CalculatorTool(), DateTimeTool(), UnitConversionTool()]
    if engines is not None and engines.names():
        tools.append(WebSearchTool(engines, settings.web_search_top_k))
    if knowledge is not None:
        tools.append(KnowledgeBaseTool(knowledge, settings.web_search_top_k))
    if settings.shell_enabled:
        tools.append(ShellTool(settings.shell_timeout))
    return tools


def build_toolbox(
    settings: AgentSettings,
    engines: SearchEngines | None,
    knowledge: KnowledgeSearcher | None,
    extra: Iterable[Tool] = (),
) -> Toolbox:
    return Toolbox([*builtin_tools(settings, engines, knowledge), *extra])
