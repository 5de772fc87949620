"""One live connection to an MCP server, through the official SDK's client.

Each connection is owned by one background task: the SDK's client is an async context (its
transport runs a task group), so it is entered and left in that task, and calls from agent
runs go through the open session meanwhile. A stdio server is a child process of the backend:
it starts with the connection and is stopped (stdin closed, then terminated) when the
connection closes, at the latest when the backend shuts down.

A server that cannot be reached is not retried on every request: after a failure the next
attempt waits ``retry_after`` seconds, so a dead server costs a request nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult
from mcp.types import Tool as McpToolInfo

logger = logging.getLogger(__name__)

State = Literal["idle", "connecting", "ready", "failed", "stopped"]
RETRY_AFTER = 30.0
MIN_CONNECT_TIMEOUT = 20.0  # starting a stdio server (an interpreter, npx) takes seconds on its own
SSE_READ_TIMEOUT = 300.0
MASK = "********"
_USERINFO = re.compile(r"^(https?://)([^/@\s]*@)")


@dataclass(frozen=True)
class ServerSpec:
    """Everything needed to reach one server, secrets in the clear (never logged, never returned)."""

    name: str
    transport: Literal["stdio", "streamable-http", "sse"]
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 30.0
    enabled: bool = True
    allowed_roles: tuple[str, ...] = ()
    allowed_users: tuple[str, ...] = ()
    origin: Literal["settings", "database"] = "database"

    @property
    def connect_timeout(self) -> float:
        return max(self.timeout, MIN_CONNECT_TIMEOUT)

    @property
    def endpoint(self) -> str:
        """Where it is, for people: the command line, or the URL without any user:password part."""
        if self.transport == "stdio":
            return " ".join([self.command or "", *self.args]).strip()
        return _USERINFO.sub(r"\1", self.url or "")

    def redact(self, text: str) -> str:
        """``text`` with every secret of this server (env and header values, URL password) masked."""
        secrets = [value for _, value in (*self.env, *self.headers) if len(value) >= 3]
        userinfo = _USERINFO.match(self.url or "")
        if userinfo:
            secrets.append(userinfo.group(2))
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text


class ServerUnavailable(Exception):
    """The server could not be reached or broke off; the message is fit for the model and for people."""


def describe(exc: BaseException) -> str:
    """A one-line reason, looking inside the exception groups anyio raises."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class Connection:
    spec: ServerSpec
    log_dir: Path | None = None  # a stdio server's stderr goes to <log_dir>/mcp-<name>.log
    retry_after: float = RETRY_AFTER
    state: State = "idle"
    error: str | None = None
    tools: list[McpToolInfo] = field(default_factory=list)
    _client: Client | None = None
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _failed_at: float = 0.0

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (no-op while connecting or connected)."""
        if self._task is not None and not self._task.done():
            return
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self.state, self.error = "connecting", None
        self._task = asyncio.create_task(self._run(), name=f"mcp:{self.spec.name}")

    async def ready(self) -> bool:
        """Connected now, or within the server's timeout; a recent failure is not retried yet."""
        if self.state == "ready" and self._client is not None:
            return True
        if self.state == "failed" and time.monotonic() - self._failed_at < self.retry_after:
            return False
        if self.state != "connecting":
            self.start()
        try:
            async with asyncio.timeout(self.spec.connect_timeout):
                await self._ready.wait()
        except TimeoutError:
            self._fail(f"no answer within {self.spec.connect_timeout:g} s")
            await self._cancel()
            return False
        return self.state == "ready"

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                async with asyncio.timeout(10):
                    await asyncio.shield(self._task)
            except (TimeoutError, Exception):
                await self._cancel()
        self.state = "stopped"
        self._client = None

    async def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    def _fail(self, reason: str) -> None:
        reason = self.spec.redact(reason)
        self.state, self.error, self._failed_at = "failed", reason, time.monotonic()
        self._client = None
        self._ready.set()
        self._stop.set()  # a broken session is closed; the next request reconnects
        logger.warning("MCP server %s unavailable: %s", self.spec.name, reason)

    async def _run(self) -> None:
        errlog: IO[str] | None = None
        try:
            if self.spec.transport == "stdio" and self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                errlog = (self.log_dir / f"mcp-{self.spec.name}.log").open("a", encoding="utf-8")
            async with Client(
                self._transport(errlog), read_timeout_seconds=self.spec.connect_timeout
            ) as client:
                tools = await _all_tools(client)
                self._client, self.tools, self.state = client, tools, "ready"
                self._ready.set()
                logger.info(
                    "MCP server %s connected (%s, %d tools)", self.spec.name, self.spec.transport, len(tools)
                )
                await self._stop.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the SDK raises exception groups from its task groups
            if self.state != "failed":
                self._fail(describe(exc))
        finally:
            self._client = None
            if self.state == "ready":
                self.state = "stopped"
            self._ready.set()
            if errlog is not None:
                errlog.close()

    def _transport(self, errlog: IO[str] | None) -> Any:
        spec = self.spec
        if spec.transport == "stdio":
            params = StdioServerParameters(
                command=spec.command or "", args=list(spec.args), env=dict(spec.env)
            )
            return params if errlog is None else _stdio_with_log(params, errlog)
        headers = dict(spec.headers)
        if spec.transport == "sse":
            return sse_client(
                spec.url or "", headers=headers, timeout=spec.timeout, sse_read_timeout=SSE_READ_TIMEOUT
            )
        http = httpx2.AsyncClient(
            headers=headers, timeout=httpx2.Timeout(spec.timeout, read=SSE_READ_TIMEOUT), trust_env=False
        )
        return _owning(http, streamable_http_client(spec.url or "", http_client=http))

    # ---- calls -------------------------------------------------------------------------------

    async def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        """One tool call; ServerUnavailable when the server is down, broke off or took too long."""
        if not await self.ready() or self._client is None:
            raise ServerUnavailable(
                f"the MCP server {self.spec.name} is unavailable ({self.error or 'not connected'})"
            )
        client = self._client
        try:
            async with asyncio.timeout(self.spec.timeout):
                return await client.call_tool(tool, arguments, read_timeout_seconds=self.spec.timeout + 1)
        except TimeoutError as exc:
            raise ServerUnavailable(
                f"the MCP server {self.spec.name} did not answer within {self.spec.timeout:g} s"
            ) from exc
        except Exception as exc:
            reason = self.spec.redact(describe(exc))
            if _is_protocol_error(exc):  # the server answered with an error: it is still there
                raise ServerUnavailable(
                    f"the MCP server {self.spec.name} refused the call: {reason}"
                ) from exc
            self._fail(reason)
            raise ServerUnavailable(f"the MCP server {self.spec.name} broke off: {reason}") from exc


async def _all_tools(client: Client) -> list[McpToolInfo]:
    tools: list[McpToolInfo] = []
    cursor: str | None = None
    for _ in range(100):  # a server that pages forever cannot hang the connection
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _is_protocol_error(exc: Exception) -> bool:
    from mcp import MCPError

    return isinstance(exc, MCPError)


@contextlib.asynccontextmanager
async def _owning(
    http: httpx2.AsyncClient, transport: AbstractAsyncContextManager[Any]
) -> AsyncIterator[Any]:
    """The streamable-HTTP transport with the HTTP client it was given, closed with it."""
    async with http, transport as streams:
        yield streams


@contextlib.asynccontextmanager
async def _stdio_with_log(params: StdioServerParameters, errlog: IO[str]) -> AsyncIterator[Any]:
    from mcp.client.stdio import stdio_client

    async with stdio_client(params, errlog=errlog) as streams:
        yield streams
