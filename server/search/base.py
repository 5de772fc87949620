"""What every engine returns and the one method it implements."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel


class SearchResult(BaseModel):
    title: str
    link: str
    snippet: str


class SearchEngine(Protocol):
    name: str

    async def search(self, query: str, top_k: int) -> list[SearchResult]:
        """The best ``top_k`` results, best first; raises a ``server.search.errors`` error on failure."""
        ...


def to_results(
    hits: Any, top_k: int, *, link: str = "url", title: str = "title", snippet: str = "content"
) -> list[SearchResult]:
    """An engine's hits as results, best first: the ones without a link are dropped, a missing
    title falls back to the link. Each engine only names its fields."""
    if not isinstance(hits, list):
        return []
    return [
        SearchResult(title=hit.get(title) or hit[link], link=hit[link], snippet=hit.get(snippet) or "")
        for hit in hits
        if isinstance(hit, dict) and hit.get(link)
    ][:top_k]
