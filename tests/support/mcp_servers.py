"""The test MCP server (``tests/mcp_server.py``) started for real: over stdio, or over HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from server.launcher.harness import free_port

SERVER = Path(__file__).resolve().parents[1] / "mcp_server.py"


def stdio_entry(name: str, **fields: object) -> dict[str, object]:
    """An ``mcp_servers`` entry that runs the test server as a child process."""
    return {
        "name": name,
        "transport": "stdio",
        "command": sys.executable,
        "args": [str(SERVER), "stdio"],
        **fields,
    }


@contextmanager
def http_server(token: str | None = None, sse: bool = False, startup: float = 60.0) -> Iterator[str]:
    """The test server over streamable HTTP (or legacy SSE); yields its endpoint URL."""
    port = free_port()
    command = [sys.executable, str(SERVER), "http", str(port)]
    if token:
        command += ["--token", token]
    if sse:
        command.append("--sse")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + startup
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the test MCP server exited with {process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the test MCP server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/sse" if sse else f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def closed_port_url() -> str:
    """An endpoint where nothing listens: a server that is down."""
    return f"http://127.0.0.1:{free_port()}/mcp"
