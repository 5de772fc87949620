"""The one place where domain errors become HTTP statuses.

Services and routes raise the errors of :mod:`server.core.errors` (or a package's subclasses);
the app's exception handler and the streaming routes ask :func:`http_status` for the status.
``ApiError``, ``BadRequest`` and ``ServiceUnavailable`` are the names the HTTP layer has always
used for those errors. An error that only the HTTP layer raises may carry its own
``status_code``.
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import JSONResponse

from server.api.schemas.common import BaseResponse
from server.auth.errors import TooManyAttempts, Unauthorized
from server.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    UpstreamError,
)

ApiError = DomainError
BadRequest = InvalidInput
ServiceUnavailable = Unavailable

STATUS: dict[type[DomainError], int] = {
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    RateLimited: 429,
    UpstreamError: 502,
    Unavailable: 503,
}


def http_status(exc: DomainError) -> int:
    """The status of the most specific kind ``exc`` is; 500 for a kind nobody mapped."""
    own = getattr(exc, "status_code", None)
    if isinstance(own, int):
        return own
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def http_headers(exc: DomainError) -> dict[str, str]:
    """What HTTP asks to go with some statuses: how to authenticate (401), when to retry (429, 503)."""
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unavailable) and exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return headers


def error_code(exc: DomainError) -> str:
    """The error's kind as a stable code (``NotFound`` → ``not_found``), for clients that translate.

    The message stays English and specific; a client in another language shows its own words for
    the code (or the status) and the message beside them.
    """
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


async def domain_error_response(request: Request, exc: Exception) -> JSONResponse:
    """The app's handler: Chatchat's envelope with the status as ``code``, the error's message and
    its kind as ``error`` (an extra field Chatchat's clients ignore)."""
    assert isinstance(exc, DomainError)
    status = http_status(exc)
    body = {**BaseResponse(code=status, msg=exc.message).model_dump(), "error": error_code(exc)}
    return JSONResponse(body, status_code=status, headers=http_headers(exc))


__all__ = [
    "STATUS",
    "ApiError",
    "BadRequest",
    "Conflict",
    "DomainError",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceUnavailable",
    "TooManyAttempts",
    "Unauthorized",
    "Unavailable",
    "UpstreamError",
    "domain_error_response",
    "error_code",
    "http_headers",
    "http_status",
]
