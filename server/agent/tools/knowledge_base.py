"""Knowledge-base search, offered when the app has a knowledge-base service that can search."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from server.agent.tools.base import TextTool, ToolError
from server.core.errors import DomainError


@runtime_checkable
class KnowledgeSearcher(Protocol):
    """What the agent needs from a knowledge-base service (``app.state.knowledge_searcher``)."""

    async def search_knowledge(self, query: str, top_k: int) -> list[tuple[str, str]]:
        """``(source, passage)`` pairs from the knowledge bases, best first."""
        ...


class KnowledgeBaseTool(TextTool):
    name = "knowledge_base_search"
    description = "Search the local knowledge bases (the user's own documents). Input: the search query."
    argument, argument_required = "query", True

    def __init__(self, searcher: KnowledgeSearcher, top_k: int) -> None:
        self._searcher = searcher
        self._top_k = top_k

    async def run(self, tool_input: str) -> str:
        query = tool_input.strip().strip("`'\"").strip()
        if not query:
            raise ToolError("give a search query")
        try:
            hits = await self._searcher.search_knowledge(query, self._top_k)
        except DomainError as exc:
            raise ToolError(exc.message) from exc
        if not hits:
            return "Nothing relevant in the knowledge bases."
        return "\n".join(f"[{n}] {source}: {passage}" for n, (source, passage) in enumerate(hits, start=1))
