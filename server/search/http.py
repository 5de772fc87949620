"""One HTTP call to a search API, with every failure turned into a clear search error."""

from __future__ import annotations

from typing import Any

import httpx

from server.search.errors import EngineUnavailable, RateLimited


async def request_json(client: httpx.AsyncClient, engine: str, method: str, url: str, **kwargs: Any) -> Any:
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise EngineUnavailable(f"search engine {engine!r} did not answer in time ({url})") from exc
    except httpx.HTTPError as exc:
        raise EngineUnavailable(f"search engine {engine!r} is unreachable at {url}: {exc}") from exc
    if response.status_code == 429:
        raise RateLimited(f"search engine {engine!r} is rate-limiting requests; try again later")
    if response.status_code in (401, 403):
        raise EngineUnavailable(
            f"search engine {engine!r} refused the request (HTTP {response.status_code}): "
            f"{_short(response.text)}"
        )
    if response.status_code >= 400:
        raise EngineUnavailable(f"search engine {engine!r} failed with HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError as exc:
        raise EngineUnavailable(f"search engine {engine!r} did not answer JSON ({url})") from exc


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
