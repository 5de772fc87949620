"""Web search engines behind one small async interface, chosen by name."""

from server.search.base import SearchEngine, SearchResult
from server.search.errors import EngineUnavailable, RateLimited, UnknownEngine
from server.search.registry import SearchEngines

__all__ = [
    "EngineUnavailable",
    "RateLimited",
    "SearchEngine",
    "SearchEngines",
    "SearchResult",
    "UnknownEngine",
]
