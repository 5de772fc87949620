"""Knowledge-base errors: the domain's kinds (``server.core.errors``), named for what went wrong."""

from __future__ import annotations

from server.core.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, Unavailable


class InvalidName(InvalidInput):
    """A knowledge-base or file name that is not allowed (traversal, bad characters, ...)."""


class KnowledgeBaseNotFound(NotFound):
    pass


class FileNotInKnowledgeBase(NotFound):
    pass


class LoaderError(Exception):
    """One file could not be read; the batch goes on and reports it under failed_files."""


class LimitExceeded(LoaderError):
    """One file would cause more work than a ``kb.limits`` setting allows; the message names both."""


LIMIT_MARK = "(kb.limits."


def is_limit_failure(reason: str) -> bool:
    """Whether a failed_files reason is a refusal by a limit (the HTTP layer answers 413 for those)."""
    return LIMIT_MARK in reason


class StoreUnavailable(Unavailable):
    """The configured vector store cannot be reached or is not installed."""


__all__ = [
    "Conflict",
    "FileNotInKnowledgeBase",
    "InvalidName",
    "KnowledgeBaseNotFound",
    "LimitExceeded",
    "LoaderError",
    "PayloadTooLarge",
    "StoreUnavailable",
]
