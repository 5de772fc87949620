"""The configured engines by name: what a request's ``search_engine_name`` resolves against."""

from __future__ import annotations

import httpx

from configs.settings import SearchSettings
from server.search.base import SearchEngine
from server.search.bing import BingEngine
from server.search.duckduckgo import DuckDuckGoEngine
from server.search.errors import UnknownEngine
from server.search.searxng import SearxngEngine
from server.search.tavily import TavilyEngine

KNOWN_ENGINES = ("searxng", "duckduckgo", "bing", "tavily")


class SearchEngines:
    def __init__(self, settings: SearchSettings) -> None:
        self.settings = settings
        # trust_env=False: proxies come from the settings only, so loopback instances are never proxied.
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.timeout, connect=min(settings.timeout, 5.0)),
            proxy=settings.proxy,
            trust_env=False,
            follow_redirects=True,
            headers={"User-Agent": "Mozilla/5.0 (compatible; chatchat-local)"},
        )
        self._engines: dict[str, SearchEngine] = {}
        if settings.searxng.base_url:
            self._engines["searxng"] = SearxngEngine(settings.searxng, self.http)
        if settings.duckduckgo.enabled:
            self._engines["duckduckgo"] = DuckDuckGoEngine(
                settings.duckduckgo, settings.timeout, settings.proxy
            )
        if settings.bing.api_key:
            self._engines["bing"] = BingEngine(settings.bing, self.http)
        if settings.tavily.api_key:
            self._engines["tavily"] = TavilyEngine(settings.tavily, self.http)

    def names(self) -> list[str]:
        return list(self._engines)

    def get(self, name: str | None = None) -> SearchEngine:
        name = name or self.settings.default_engine
        if name in self._engines:
            return self._engines[name]
        configured = ", ".join(self._engines) or "none"
        if name in KNOWN_ENGINES:
            raise UnknownEngine(f"search engine {name!r} is not configured; configured engines: {configured}")
        raise UnknownEngine(f"unknown search engine {name!r}; configured engines: {configured}")

    async def aclose(self) -> None:
        await self.http.aclose()
