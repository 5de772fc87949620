"""A self-hosted SearXNG instance through its JSON API (``GET /search?q=...&format=json``)."""

from __future__ import annotations

import httpx

from configs.settings import SearxngSettings
from server.search.base import SearchResult, to_results
from server.search.errors import EngineUnavailable
from server.search.http import request_json


class SearxngEngine:
    name = "searxng"

    def __init__(self, settings: SearxngSettings, client: httpx.AsyncClient) -> None:
        assert settings.base_url
        self._settings = settings
        self._url = settings.base_url.rstrip("/") + "/search"
        self._client = client

    async def search(self, query: str, top_k: int) -> list[SearchResult]:
        params = {
            "q": query,
            "format": "json",
            "pageno": 1,
            "language": self._settings.language,
            "safesearch": self._settings.safesearch,
            "categories": self._settings.categories,
        }
        try:
            data = await request_json(self._client, self.name, "GET", self._url, params=params)
        except EngineUnavailable as exc:
            if "HTTP 403" in exc.message:  # SearXNG's answer when json is not in search.formats
                raise EngineUnavailable(
                    f"{exc.message}. Enable the JSON API: "
                    "add 'json' to search.formats in SearXNG's settings.yml"
                ) from exc
            raise
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise EngineUnavailable("search engine 'searxng' answered without a results list")
        return to_results(results, top_k)
