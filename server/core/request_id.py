"""One request id per HTTP request, carried across processes in the ``X-Request-ID`` header.

The backend makes it (or takes the client's), passes it to the OpenAI API server, which
passes it to the worker; every log line written while serving the request carries it, so a
single chat can be followed through all the logs.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.core.logging import request_id_var

HEADER = "x-request-id"
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def current_headers() -> dict[str, str]:
    """Headers that carry the current request id to the next service (empty outside a request)."""
    rid = request_id_var.get()
    return {"X-Request-ID": rid} if rid else {}


class RequestIdMiddleware:
    """Pure ASGI (no buffering): safe for streaming responses and client disconnects."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(HEADER.encode(), b"").decode("latin-1")
        rid = incoming if _VALID.match(incoming) else uuid.uuid4().hex[:12]
        token = request_id_var.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (HEADER.encode(), rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
