"""DuckDuckGo through the ``ddgs`` library (no key; it scrapes, so it can be rate-limited)."""

from __future__ import annotations

import asyncio

from ddgs import DDGS
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

from configs.settings import DuckDuckGoSettings
from server.search.base import SearchResult, to_results
from server.search.errors import EngineUnavailable, RateLimited


class DuckDuckGoEngine:
    name = "duckduckgo"

    def __init__(self, settings: DuckDuckGoSettings, timeout: float, proxy: str | None) -> None:
        self._settings = settings
        self._timeout = timeout
        self._proxy = proxy

    def _search_sync(self, query: str, top_k: int) -> list[dict]:
        ddgs = DDGS(proxy=self._proxy, timeout=max(1, int(self._timeout)))
        return ddgs.text(
            query,
            region=self._settings.region,
            safesearch=self._settings.safesearch,
            max_results=top_k,
            backend=self._settings.backend,
        )

    async def search(self, query: str, top_k: int) -> list[SearchResult]:
        try:
            # The library is synchronous; the outer timeout also covers its retries over backends.
            rows = await asyncio.wait_for(
                asyncio.to_thread(self._search_sync, query, top_k), self._timeout * 2
            )
        except RatelimitException as exc:
            raise RateLimited(
                "search engine 'duckduckgo' is rate-limiting requests; try again later"
            ) from exc
        except (TimeoutException, TimeoutError) as exc:
            raise EngineUnavailable("search engine 'duckduckgo' did not answer in time") from exc
        except DDGSException as exc:
            if "No results found" in str(exc):
                return []
            raise EngineUnavailable(f"search engine 'duckduckgo' failed: {exc}") from exc
        return to_results(list(rows), top_k, link="href", snippet="body")
