"""Web search through the configured engines (the same ones search-engine chat uses)."""

from __future__ import annotations

from server.agent.tools.base import TextTool, ToolError
from server.core.errors import DomainError
from server.search import SearchEngines


class WebSearchTool(TextTool):
    name = "web_search"
    description = "Search the internet for current information. Input: the search query."
    argument, argument_required = "query", True

    def __init__(self, engines: SearchEngines, top_k: int) -> None:
        self._engines = engines
        self._top_k = top_k

    async def run(self, tool_input: str) -> str:
        query = tool_input.strip().strip("`'\"").strip()
        if not query:
            raise ToolError("give a search query")
        try:
            names = self._engines.names()
            default = self._engines.settings.default_engine
            engine = self._engines.get(default if default in names or not names else names[0])
            results = await engine.search(query, self._top_k)
        except DomainError as exc:
            raise ToolError(exc.message) from exc
        if not results:
            return "No results."
        return "\n".join(f"[{n}] {r.title} ({r.link}): {r.snippet}" for n, r in enumerate(results, start=1))
