"""The cluster secret: only processes of this stack may talk to the controller and the workers.

FastChat's controller accepts any ``register_worker`` and its workers any generation request, so
anyone who can reach their ports could register a worker that then receives users' prompts, or use
the model directly. Every controller and worker app here refuses a request without the secret in
``X-Chatchat-Cluster-Secret``, and every process of the stack sends it on its own calls: FastChat's
workers and controller (their ``requests`` calls), the API server (its pooled session), the
launcher's probes and the backend. The secret is generated at first start in the data dir; workers
on other hosts get the hub's through ``auth.cluster_secret``.
"""

from __future__ import annotations

import hmac
import json
import logging
from types import ModuleType
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from server.core.exit_codes import EXIT_CONFIG

logger = logging.getLogger(__name__)

HEADER = "X-Chatchat-Cluster-Secret"
_HEADER_KEY = HEADER.lower().encode()


def cluster_headers(secret: str) -> dict[str, str]:
    return {HEADER: secret}


def is_cluster_call(headers: dict[bytes, bytes], secret: str) -> bool:
    given = headers.get(_HEADER_KEY, b"")
    return bool(given) and hmac.compare_digest(given, secret.encode())


class ClusterSecretGuard:
    """Pure ASGI: a request without the cluster secret gets 401 and never reaches the app."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_cluster_call(dict(scope.get("headers") or []), self.secret):
            body = json.dumps({"error": f"this service only answers the stack's own processes ({HEADER})"})
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body.encode()})
            return
        await self.app(scope, receive, send)


class _SignedRequests:
    """Stands in for the ``requests`` module inside one FastChat module: its calls carry the secret."""

    def __init__(self, real: ModuleType, secret: str) -> None:
        self._real = real
        self._headers = cluster_headers(secret)

    def _with_secret(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**kwargs, "headers": {**(kwargs.get("headers") or {}), **self._headers}}

    def post(self, url: str, *args: Any, **kwargs: Any) -> Any:
        response = self._real.post(url, *args, **self._with_secret(kwargs))
        if getattr(response, "status_code", None) == 401 and url.endswith("/register_worker"):
            logger.error(
                "the controller at %s refused this worker's cluster secret: set auth.cluster_secret "
                "(CHATCHAT_AUTH__CLUSTER_SECRET) to the hub's, from its data/secrets/cluster_secret",
                url.removesuffix("/register_worker"),
            )
            raise SystemExit(EXIT_CONFIG)  # no restart can fix a wrong secret
        return response

    def get(self, url: str, *args: Any, **kwargs: Any) -> Any:
        return self._real.get(url, *args, **self._with_secret(kwargs))

    def __getattr__(self, name: str) -> Any:  # requests.exceptions and the rest stay the real ones
        return getattr(self._real, name)


def sign_requests_of(module: ModuleType, secret: str) -> None:
    """Make the ``requests`` calls of a FastChat module (controller, base worker) send the secret."""
    current = getattr(module, "requests", None)
    if current is None or isinstance(current, _SignedRequests):
        return
    module.requests = _SignedRequests(current, secret)  # type: ignore[attr-defined]


def guard(app: Any, secret: str) -> Any:
    """Refuse callers without the secret on a controller or worker app."""
    app.add_middleware(ClusterSecretGuard, secret=secret)
    return app


def prepare_controller(app: Any, secret: str) -> Any:
    from fastchat.serve import controller

    sign_requests_of(controller, secret)  # its calls to workers (status, generate)
    return guard(app, secret)


def prepare_worker(app: Any, secret: str) -> Any:
    from fastchat.serve import base_model_worker

    sign_requests_of(base_model_worker, secret)  # register and heartbeats to the controller
    return guard(app, secret)


def prepare_api_server(secret: str) -> None:
    """The API server's calls to the controller and workers go through FastChat's ``headers``."""
    from fastchat.serve import openai_api_server

    openai_api_server.headers.update(cluster_headers(secret))
