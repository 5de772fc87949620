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


class StoreUnavailable(Unavailable):
    """The configured vector store cannot be reached or is not installed."""


__all__ = [
    "Conflict",
    "FileNotInKnowledgeBase",
    "InvalidName",
    "KnowledgeBaseNotFound",
    "LoaderError",
    "PayloadTooLarge",
    "StoreUnavailable",
]
