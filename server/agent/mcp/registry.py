"""Every MCP server the backend knows: from settings (read-only) and from the database (admin-managed).

The registry owns one :class:`Connection` per enabled server for the backend's lifetime. An
agent run asks it for the tools the caller may use; servers that are down or slow are left out
of that run (their state says why) instead of failing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from configs.settings import McpServerSettings
from server.agent.mcp.connection import Connection, ServerSpec
from server.agent.mcp.tool import McpTool

logger = logging.getLogger(__name__)

ADMIN = "admin"


@dataclass(frozen=True)
class Caller:
    """Who is asking: a signed-in user's name and role; None everywhere in single-user mode."""

    name: str
    role: str


def allowed(spec: ServerSpec, caller: Caller | None) -> bool:
    """Admins and single-user mode see every server; others what its roles and users allow."""
    if caller is None or caller.role == ADMIN:
        return True
    if not spec.allowed_roles and not spec.allowed_users:
        return True
    return caller.role in spec.allowed_roles or caller.name in spec.allowed_users


def spec_from_settings(server: McpServerSettings) -> ServerSpec:
    return ServerSpec(
        name=server.name,
        transport=server.transport,
        command=server.command,
        args=tuple(server.args),
        env=tuple((k, v.get_secret_value()) for k, v in server.env.items()),
        url=server.url,
        headers=tuple((k, v.get_secret_value()) for k, v in server.headers.items()),
        timeout=server.timeout,
        enabled=server.enabled,
        allowed_roles=tuple(server.allowed_roles),
        allowed_users=tuple(server.allowed_users),
        origin="settings",
    )


class McpRegistry:
    def __init__(self, configured: Iterable[McpServerSettings], log_dir: Path | None, max_chars: int) -> None:
        self._configured = [spec_from_settings(server) for server in configured]
        self._log_dir = log_dir
        self._max_chars = max_chars
        self._specs: dict[str, ServerSpec] = {spec.name: spec for spec in self._configured}
        self._connections: dict[str, Connection] = {}
        self._lock = asyncio.Lock()

    @property
    def configured_names(self) -> set[str]:
        return {spec.name for spec in self._configured}

    def specs(self) -> list[ServerSpec]:
        return list(self._specs.values())

    def spec(self, name: str) -> ServerSpec | None:
        return self._specs.get(name)

    def connection(self, name: str) -> Connection | None:
        return self._connections.get(name)

    async def start(self, stored: Iterable[ServerSpec]) -> None:
        """Begin connecting every enabled server in the background (startup does not wait for them)."""
        for spec in stored:
            if spec.name in self.configured_names:
                logger.warning("MCP server %s is in settings and in the database; settings win", spec.name)
                continue
            self._specs[spec.name] = spec
        for spec in self._specs.values():
            if spec.enabled:
                self._open(spec)

    def _open(self, spec: ServerSpec) -> Connection:
        connection = Connection(spec, self._log_dir)
        self._connections[spec.name] = connection
        connection.start()
        return connection

    async def put(self, spec: ServerSpec) -> None:
        """Add or replace a stored server; its old connection (and child process) is closed first."""
        async with self._lock:
            await self._close(spec.name)
            self._specs[spec.name] = spec
            if spec.enabled:
                self._open(spec)

    async def remove(self, name: str) -> None:
        async with self._lock:
            await self._close(name)
            self._specs.pop(name, None)

    async def reconnect(self, name: str) -> Connection | None:
        """Connect again now (after fixing a server), and wait for the outcome."""
        spec = self._specs.get(name)
        if spec is None:
            return None
        async with self._lock:
            await self._close(name)
            connection = self._open(spec) if spec.enabled else None
        if connection is not None:
            await connection.ready()
        return connection

    async def _close(self, name: str) -> None:
        connection = self._connections.pop(name, None)
        if connection is not None:
            await connection.stop()

    async def stop(self) -> None:
        """Close every connection: stdio servers' processes end with the backend."""
        connections = list(self._connections.values())
        self._connections.clear()
        await asyncio.gather(*(c.stop() for c in connections), return_exceptions=True)

    async def tools(self, caller: Caller | None) -> list[McpTool]:
        """The tools of every enabled server the caller may use and that answers in time."""
        usable = [
            c
            for name, c in self._connections.items()
            if (s := self._specs.get(name)) and s.enabled and allowed(s, caller)
        ]
        ready = await asyncio.gather(*(c.ready() for c in usable))
        return [
            McpTool(connection, info, self._max_chars)
            for connection, ok in zip(usable, ready, strict=True)
            if ok
            for info in connection.tools
        ]
