"""``split_result``: read each result's page and keep the passage that best matches the query.

Snippets are a sentence or two; the page itself often holds the answer. A page that cannot be
read in time keeps its snippet, so a slow site never fails the whole search. Unless
``search.fetch_private_pages`` is set, only public addresses are read (each redirect hop is
checked too), so a crafted result cannot make the server fetch from its own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import urlsplit

import httpx
from bs4 import BeautifulSoup
from langchain_text_splitters import RecursiveCharacterTextSplitter

from configs.settings import SearchSettings
from server.search.base import SearchResult

MAX_REDIRECTS = 5
_WORD = re.compile(r"\w+", re.UNICODE)
_DROPPED_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "form", "svg")


async def is_public_url(url: str) -> bool:
    """http(s) to a host whose every address is public: a result link must not reach our own network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 80, type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError):
        return False
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    return bool(addresses) and all(address.is_global for address in addresses)


async def fetch_text(client: httpx.AsyncClient, url: str, max_bytes: int, allow_private: bool) -> str | None:
    """The page's readable text, or None; redirects are followed by hand so each hop is checked."""
    for _ in range(MAX_REDIRECTS + 1):
        if not allow_private and not await is_public_url(url):
            return None
        try:
            async with client.stream("GET", url, follow_redirects=False) as response:
                if response.is_redirect and "location" in response.headers:
                    url = str(response.url.join(response.headers["location"]))
                    continue
                if response.status_code >= 400:
                    return None
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= max_bytes:
                        break
                content_type = response.headers.get("content-type", "")
                encoding = response.encoding or "utf-8"
        except httpx.HTTPError:
            return None
        raw = bytes(body[:max_bytes]).decode(encoding, errors="replace")
        if "html" not in content_type and not raw.lstrip().startswith("<"):
            return raw
        return await asyncio.to_thread(html_to_text, raw)
    return None


def html_to_text(html: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(_DROPPED_TAGS):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)


def best_passage(text: str, query: str, chunk_size: int, chunk_overlap: int) -> str | None:
    """The chunk sharing the most query words (ties: the earlier one); None for an empty page."""
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size, chunk_overlap=min(chunk_overlap, chunk_size // 2)
    )
    chunks = splitter.split_text(text)
    if not chunks:
        return None
    terms = {w.lower() for w in _WORD.findall(query)}
    scores = [len(terms & {w.lower() for w in _WORD.findall(chunk)}) for chunk in chunks]
    return chunks[scores.index(max(scores))]


async def expand_results(
    client: httpx.AsyncClient, settings: SearchSettings, query: str, results: list[SearchResult]
) -> list[SearchResult]:
    async def expand(result: SearchResult) -> SearchResult:
        try:
            text = await asyncio.wait_for(
                fetch_text(client, result.link, settings.page_max_bytes, settings.fetch_private_pages),
                settings.timeout,
            )
        except TimeoutError:
            return result
        passage = text and best_passage(text, query, settings.chunk_size, settings.chunk_overlap)
        return result.model_copy(update={"snippet": passage}) if passage else result

    return list(await asyncio.gather(*(expand(r) for r in results)))
