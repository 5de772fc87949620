"""The backend's one way to ask the launcher to start or stop a model worker.

The launcher owns the worker processes, so model switching goes through it. The channel is a
``multiprocessing`` pipe handed to the backend process at spawn: nothing listens on a port,
so nothing but the backend can use it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal

Operation = Literal["start", "stop", "status"]


@dataclass(frozen=True)
class ControlRequest:
    op: Operation
    model: str = ""


@dataclass(frozen=True)
class ControlReply:
    ok: bool
    message: str
    running: tuple[str, ...] = ()
    # per model: status (running, restarting, starting, failed) and replica counts
    models: dict[str, dict[str, Any]] = field(default_factory=dict)


class LauncherControl:
    """Backend side: one request at a time over the pipe, without blocking the event loop."""

    def __init__(self, connection: Connection, timeout: float) -> None:
        self._connection = connection
        self._timeout = timeout
        self._lock = asyncio.Lock()

    async def call(self, op: Operation, model: str = "") -> ControlReply:
        async with self._lock:
            return await asyncio.to_thread(self._call, ControlRequest(op, model))

    def _call(self, request: ControlRequest) -> ControlReply:
        self._connection.send(request)
        if not self._connection.poll(self._timeout):
            raise TimeoutError(
                f"the launcher did not answer {request.op} {request.model} in {self._timeout:.0f}s"
            )
        reply: Any = self._connection.recv()
        if not isinstance(reply, ControlReply):
            raise RuntimeError(f"unexpected reply from the launcher: {reply!r}")
        return reply
