"""What can go wrong in a request, said in the domain's words.

Every package raises these (or its own subclasses) with a message a user can act on; none of them
knows about HTTP. The backend maps each kind to a status in one place (``server.api.errors``), so a
knowledge base, a search engine or the agent never depends on the web layer.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request that cannot be served; ``message`` says why, in words fit for the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """The caller asked for something malformed or impossible (a bad name, an unknown option)."""


class Forbidden(DomainError):
    """The caller may not do this (a setting or a role forbids it)."""


class NotFound(DomainError):
    """The thing named does not exist (or no longer does)."""


class Conflict(DomainError):
    """The request collides with what exists (a name already taken)."""


class PayloadTooLarge(DomainError):
    """The caller sent more than a configured limit allows."""


class RateLimited(DomainError):
    """Someone we depend on asks us to slow down; trying later may work."""


class UpstreamError(DomainError):
    """A service we call answered, but with an error or with something we cannot use."""


class Unavailable(DomainError):
    """A service we depend on cannot be reached, is not running, or is too busy to answer now.

    ``retry_after`` (seconds), when known, tells the caller when trying again makes sense.
    """

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
