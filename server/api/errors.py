"""Domain errors the services raise; the app turns each into a clear 4xx/5xx envelope."""

from __future__ import annotations


class ApiError(Exception):
    """An error with the HTTP status and the message a client should see."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status_code = 400


class NotFound(ApiError):
    status_code = 404


class ServiceUnavailable(ApiError):
    status_code = 503


class Forbidden(ApiError):
    status_code = 403


class Conflict(ApiError):
    status_code = 409
