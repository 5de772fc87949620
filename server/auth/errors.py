"""Access errors; the backend turns each into its status with Chatchat's envelope."""

from __future__ import annotations

from server.api.errors import ApiError


class Unauthorized(ApiError):
    """No valid token or key: 401 with ``WWW-Authenticate: Bearer``."""

    status_code = 401


class Forbidden(ApiError):
    status_code = 403


class Conflict(ApiError):
    status_code = 409


class TooManyAttempts(ApiError):
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
