"""Search failures as API errors, so a route answers them with a clear status and message."""

from __future__ import annotations

from server.api.errors import ApiError, BadRequest, ServiceUnavailable


class UnknownEngine(BadRequest):
    """The request named an engine that does not exist or is not configured."""


class EngineUnavailable(ServiceUnavailable):
    """Unreachable, timed out, refused the key, or answered something that is not a result list."""


class RateLimited(ApiError):
    status_code = 429
