"""Who may call the OpenAI-compatible API server (``/v1``): a user's API key or login token.

With accounts on, a request needs ``Authorization: Bearer <sk-... key or login token>`` of an
approved account (no key or a wrong one: 401 in OpenAI's error format, so the official client
raises ``AuthenticationError``), or the stack's cluster secret (the backend, the launcher). Keys
are looked up in the database on every request, so a revoked key is refused at once. In
single-user mode ``/v1`` stays open, as FastChat's is.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from configs import Settings
from server.auth.principal import Principal
from server.auth.users import UserService
from server.llm.cluster_auth import is_cluster_call

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"})


def _bearer(headers: dict[bytes, bytes]) -> str | None:
    scheme, _, credentials = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def _openai_error(status: int, message: str, code: str) -> tuple[dict, bytes]:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return body, json.dumps(body).encode()


class ApiServerAuth:
    """Pure ASGI, so streamed completions pass through untouched."""

    def __init__(self, app: ASGIApp, settings: Settings, cluster_secret: str) -> None:
        self.app = app
        self.settings = settings
        self.cluster_secret = cluster_secret
        self._users: UserService | None = None
        self._lock = asyncio.Lock()

    async def _user_service(self) -> UserService:
        if self._users is None:
            async with self._lock:
                if self._users is None:
                    from server.db.engine import create_engine, session_factory
                    from server.db.migrate import upgrade

                    engine = create_engine(self.settings.sqlalchemy_url)
                    await upgrade(engine)  # the API server may start before the backend ever did
                    self._users = UserService(session_factory(engine), self.settings)
        return self._users

    async def _caller(self, bearer: str) -> Principal | None:
        try:
            return await (await self._user_service()).principal_for(bearer)
        except Exception as exc:  # an unreadable database refuses, it never lets through
            logger.warning("checking an API key failed: %s", exc)
            return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.settings.auth.enabled or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if is_cluster_call(headers, self.cluster_secret):
            await self.app(scope, receive, send)
            return
        bearer = _bearer(headers)
        principal = await self._caller(bearer) if bearer else None
        if principal is None:
            status, (_, body) = (
                401,
                _openai_error(
                    401,
                    "a valid API key is needed: 'Authorization: Bearer sk-...' (create one on the web UI's "
                    "API keys page or with POST /auth/api_keys)",
                    "invalid_api_key",
                ),
            )
        elif principal.is_pending:
            status, (_, body) = (
                403,
                _openai_error(403, "the account is waiting for an admin's approval", "pending"),
            )
        else:
            await self.app(scope, receive, send)
            return
        response_headers = [(b"content-type", b"application/json")]
        if status == 401:
            response_headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})
