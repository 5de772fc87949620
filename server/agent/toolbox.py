"""The tools one agent run may use, from the settings and the services the app has."""

from __future__ import annotations

import re

from configs.settings import AgentSettings
from server.agent.tools.base import Tool
from server.agent.tools.calculator import CalculatorTool
from server.agent.tools.clock import DateTimeTool
from server.agent.tools.knowledge_base import KnowledgeBaseTool, KnowledgeSearcher
from server.agent.tools.shell import ShellTool
from server.agent.tools.units import UnitConversionTool
from server.agent.tools.web_search import WebSearchTool
from server.search import SearchEngines


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
