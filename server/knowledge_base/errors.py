"""Knowledge-base errors, each carrying the HTTP status a client should see."""

from __future__ import annotations

from server.api.errors import ApiError, BadRequest, NotFound


class InvalidName(BadRequest):
    """A knowledge-base or file name that is not allowed (traversal, bad characters, ...)."""


class KnowledgeBaseNotFound(NotFound):
    pass


class FileNotInKnowledgeBase(NotFound):
    pass


class Conflict(ApiError):
    status_code = 409


class PayloadTooLarge(ApiError):
    status_code = 413


class LoaderError(Exception):
    """One file could not be read; the batch goes on and reports it under failed_files."""


class StoreUnavailable(ApiError):
    """The configured vector store cannot be reached or is not installed."""

    status_code = 503
