"""Tavily's search API (``POST /search``, bearer key), built for feeding LLMs."""

from __future__ import annotations

import httpx

from configs.settings import TavilySettings
from server.search.base import SearchResult, to_results
from server.search.errors import EngineUnavailable
from server.search.http import request_json


class TavilyEngine:
    name = "tavily"

    def __init__(self, settings: TavilySettings, client: httpx.AsyncClient) -> None:
        assert settings.api_key
        self._settings = settings
        self._client = client
        self._key = settings.api_key.get_secret_value()

    async def search(self, query: str, top_k: int) -> list[SearchResult]:
        data = await request_json(
            self._client,
            self.name,
            "POST",
            self._settings.endpoint,
            json={"query": query, "max_results": top_k, "search_depth": self._settings.search_depth},
            headers={"Authorization": f"Bearer {self._key}"},
        )
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise EngineUnavailable("search engine 'tavily' answered without a results list")
        return to_results(results, top_k)
