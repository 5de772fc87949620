"""What every engine returns and the one method it implements."""

from __future__ import annotations

from typing import Protocol

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
