"""One writer at a time per knowledge base, in this process and across backend processes.

In a process an asyncio lock per name queues writers without blocking the event loop. Across
processes the database decides: on PostgreSQL a transaction-scoped advisory lock taken inside
the write's own transaction (released by its commit or rollback, so a crashed writer never
leaves it held); on SQLite, whose stores are files on one machine, an ``flock`` on a lock file
held until the write has committed.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock``."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


class WriteLocks:
    def __init__(self, lock_dir: Path) -> None:
        self.lock_dir = lock_dir
        self._local: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @asynccontextmanager
    async def hold(self, name: str, session: AsyncSession) -> AsyncIterator[None]:
        """Hold the write lock of ``name`` while ``session``'s transaction writes and commits."""
        async with self._local[name]:
            if session.get_bind().dialect.name == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(name)})
                yield
                return
            handle = await asyncio.to_thread(self._flock, name)
            try:
                yield
            finally:
                os.close(handle)  # closing the descriptor releases the lock

    def _flock(self, name: str) -> int:
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.blake2b(name.encode(), digest_size=16).hexdigest()
        handle = os.open(self.lock_dir / f"{digest}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except BaseException:
            os.close(handle)
            raise
        return handle
