"""Bing Web Search API v7 (``webPages.value``), with an Azure subscription key."""

from __future__ import annotations

import httpx

from configs.settings import BingSettings
from server.search.base import SearchResult, to_results
from server.search.http import request_json


class BingEngine:
    name = "bing"

    def __init__(self, settings: BingSettings, client: httpx.AsyncClient) -> None:
        assert settings.api_key
        self._settings = settings
        self._client = client
        self._key = settings.api_key.get_secret_value()

    async def search(self, query: str, top_k: int) -> list[SearchResult]:
        data = await request_json(
            self._client,
            self.name,
            "GET",
            self._settings.endpoint,
            params={"q": query, "count": top_k, "mkt": self._settings.market, "textFormat": "Raw"},
            headers={"Ocp-Apim-Subscription-Key": self._key},
        )
        pages = (data.get("webPages") or {}).get("value") or [] if isinstance(data, dict) else []
        return to_results(pages, top_k, title="name", snippet="snippet")
