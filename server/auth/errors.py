"""Access errors in the domain's words; ``server.api.errors`` gives each its status and headers.

``Forbidden`` (403) and ``Conflict`` (409) are the shared kinds of :mod:`server.core.errors`;
only the two that need more than a status live here.
"""

from __future__ import annotations

from server.core.errors import Conflict, DomainError, Forbidden, RateLimited


class Unauthorized(DomainError):
    """No valid token or key (401, answered with ``WWW-Authenticate: Bearer``)."""


class TooManyAttempts(RateLimited):
    """Too many failed logins; ``retry_after`` seconds until one may try again (``Retry-After``)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


__all__ = ["Conflict", "Forbidden", "TooManyAttempts", "Unauthorized"]
