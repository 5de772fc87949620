"""The connections pgvector searches run on: one statement, one round trip, vectors in binary.

A search through the catalogue's SQLAlchemy sessions costs five round trips before any rows come
back (pre-ping, BEGIN, ``SET LOCAL hnsw.ef_search``, the statement, ROLLBACK) and sends the query
vector as a text literal the server parses each time. Searches only read committed chunks, so
they need none of that: this pool keeps a few asyncpg connections open (warm), in autocommit,
with the HNSW settings fixed per connection at connect time, and pgvector's asyncpg codec binds
vectors as binary parameters. asyncpg prepares each statement once per connection, so a search
is a single Bind/Execute exchange.

A connection that the server ended fails its statement; the pool then replaces all of its
connections and the search is tried once more (nothing was written, so a retry is safe).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
from pgvector.asyncpg import register_vector
from sqlalchemy.engine import URL

# what a connection the server ended while it sat in the pool (a restart, an idle kill) raises
RETRYABLE = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # the server's goodbye arrived while a statement was sent
    OSError,
)


def asyncpg_dsn(url: URL) -> str:
    """The SQLAlchemy URL of the catalogue as a DSN asyncpg understands."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _prepare_connection(connection: asyncpg.Connection) -> None:
    await register_vector(connection)  # vectors as binary parameters and results
    await connection.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class PgVectorReads:
    """A small pool of read connections to the catalogue's PostgreSQL, shared by its pgvector stores."""

    def __init__(
        self, url: URL, *, ef_search: int, min_size: int = 2, max_size: int = 10, idle_s: float = 300.0
    ) -> None:
        self.dsn = asyncpg_dsn(url)
        self.ef_search = ef_search
        self.min_size, self.max_size, self.idle_s = min_size, max_size, idle_s
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def _open(self) -> asyncpg.Pool:
        pool = self._pool
        if pool is not None:
            return pool
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=self.min_size,
                    max_size=self.max_size,
                    max_inactive_connection_lifetime=self.idle_s,
                    init=_prepare_connection,
                    server_settings={
                        "hnsw.ef_search": str(int(self.ef_search)),
                        # a filtered search walks on until enough chunks pass (no effect without one)
                        "hnsw.iterative_scan": "strict_order",
                    },
                )
            return self._pool

    async def fetch(self, statement: str, *args: Any) -> list[asyncpg.Record]:
        for attempt in (1, 2):
            pool = await self._open()
            try:
                return await pool.fetch(statement, *args)
            except RETRYABLE:
                if attempt == 2:
                    raise
                await pool.expire_connections()  # the others were most likely ended too: open new ones
        raise AssertionError("unreachable")

    async def fetchval(self, statement: str, *args: Any) -> Any:
        rows = await self.fetch(statement, *args)
        return rows[0][0] if rows else None

    async def close(self) -> None:
        async with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
