"""Failed logins slow an attacker down per account and per client address (``limits``' moving window).

Only failures count, so a user who types the password right is never held up by someone else's
guesses at another account.
"""

from __future__ import annotations

import time

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from configs.settings import AuthSettings
from server.auth.errors import TooManyAttempts


class LoginThrottle:
    def __init__(self, settings: AuthSettings) -> None:
        window = settings.login_window_s
        self._per_account = RateLimitItemPerSecond(settings.login_failures_per_account, window)
        self._per_address = RateLimitItemPerSecond(settings.login_failures_per_address, window)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def check(self, account: str, address: str) -> None:
        """Raise 429 when either has failed too often lately."""
        for item, key, what in (
            (self._per_account, account.lower(), "this account"),
            (self._per_address, address, "this address"),
        ):
            if not await self._limiter.test(item, "login", key):
                stats = await self._limiter.get_window_stats(item, "login", key)
                retry = max(1, int(stats.reset_time - time.time()) + 1)
                raise TooManyAttempts(
                    f"too many failed logins for {what}; try again in {retry} s", retry_after=retry
                )

    async def failed(self, account: str, address: str) -> None:
        await self._limiter.hit(self._per_account, "login", account.lower())
        await self._limiter.hit(self._per_address, "login", address)
