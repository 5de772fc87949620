"""The admin-managed MCP connections in the database, as :class:`ServerSpec` values."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.agent.mcp.connection import ServerSpec
from server.db.models import McpConnection


class NameTaken(Exception):
    pass


def spec_from_row(row: McpConnection) -> ServerSpec:
    return ServerSpec(
        name=row.name,
        transport=row.transport,  # type: ignore[arg-type]  # checked when it was stored
        command=row.command,
        args=tuple(row.args or ()),
        env=tuple((row.env or {}).items()),
        url=row.url,
        headers=tuple((row.headers or {}).items()),
        timeout=row.timeout,
        enabled=row.enabled,
        allowed_roles=tuple(row.allowed_roles or ()),
        allowed_users=tuple(row.allowed_users or ()),
        origin="database",
    )


def _columns(spec: ServerSpec) -> dict[str, Any]:
    return {
        "transport": spec.transport,
        "command": spec.command,
        "args": list(spec.args),
        "env": dict(spec.env),
        "url": spec.url,
        "headers": dict(spec.headers),
        "timeout": spec.timeout,
        "enabled": spec.enabled,
        "allowed_roles": list(spec.allowed_roles),
        "allowed_users": list(spec.allowed_users),
    }


class McpStore:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def all(self) -> list[ServerSpec]:
        async with self._db() as session:
            rows = (await session.scalars(select(McpConnection).order_by(McpConnection.id))).all()
            return [spec_from_row(row) for row in rows]

    async def get(self, name: str) -> ServerSpec | None:
        async with self._db() as session:
            row = await session.scalar(select(McpConnection).where(McpConnection.name == name))
            return spec_from_row(row) if row is not None else None

    async def add(self, spec: ServerSpec, created_by: str | None) -> None:
        async with self._db() as session:
            session.add(McpConnection(name=spec.name, created_by=created_by, **_columns(spec)))
            try:
                await session.commit()
            except IntegrityError as exc:
                raise NameTaken(spec.name) from exc

    async def update(self, spec: ServerSpec) -> bool:
        async with self._db() as session:
            row = await session.scalar(select(McpConnection).where(McpConnection.name == spec.name))
            if row is None:
                return False
            for key, value in _columns(spec).items():
                setattr(row, key, value)
            await session.commit()
            return True

    async def delete(self, name: str) -> bool:
        async with self._db() as session:
            result = await session.execute(delete(McpConnection).where(McpConnection.name == name))
            await session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]
