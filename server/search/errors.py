"""Search failures, as the domain's kinds of error (``server.core.errors``)."""

from __future__ import annotations

from server.core.errors import InvalidInput, RateLimited, Unavailable


class UnknownEngine(InvalidInput):
    """The request named an engine that does not exist or is not configured."""


class EngineUnavailable(Unavailable):
    """Unreachable, timed out, refused the key, or answered something that is not a result list."""


__all__ = ["EngineUnavailable", "RateLimited", "UnknownEngine"]
