"""A small MCP server for the tests, on the official SDK: one tool that works, one slow, one failing.

    python tests/mcp_server.py stdio
    python tests/mcp_server.py http PORT [--token SECRET] [--sse]

Over HTTP it listens on 127.0.0.1 only; with ``--token`` every request must carry
``Authorization: Bearer SECRET`` (so a test can prove the connection's headers are sent).
"""

from __future__ import annotations

import argparse
import asyncio

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("chatchat-test-tools")


@server.tool(description="Add two whole numbers and say the sum.")
def add(a: int, b: int) -> str:
    return f"The sum of {a} and {b} is {a + b}."


@server.tool(description="Wait for the given number of seconds, then say so.")
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"waited {seconds:g} s"


@server.tool(description="Always fails, with a reason.")
def fail(reason: str = "on purpose") -> str:
    raise ToolError(f"this tool fails {reason}")


@server.tool(description="A long answer, to see it cut before it reaches the model.")
def flood(size: int = 100_000) -> str:
    return "x" * size


def serve_http(port: int, token: str | None, sse: bool) -> None:
    import uvicorn
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    app = server.sse_app() if sse else server.streamable_http_app()

    async def check(request: Request, call_next) -> Response:  # type: ignore[no-untyped-def]
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return await call_next(request)

    app.add_middleware(BaseHTTPMiddleware, dispatch=check)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("transport", choices=["stdio", "http"])
    parser.add_argument("port", type=int, nargs="?", default=0)
    parser.add_argument("--token")
    parser.add_argument("--sse", action="store_true")
    args = parser.parse_args()
    if args.transport == "stdio":
        server.run("stdio")
    else:
        serve_http(args.port, args.token, args.sse)


if __name__ == "__main__":
    main()
