"""What keeps a web page the user visits from using the local services behind their back.

* Cross-site writes: a state-changing request whose ``Origin`` (or, without one, ``Referer``) is
  not one of the app's own origins is refused with 403, whether accounts are on or off. Browsers
  send a multipart POST cross-site without a preflight, so CORS alone does not stop it.
* DNS rebinding: a request whose ``Host`` is not one of the service's own names is refused
  (starlette's ``TrustedHostMiddleware``), so a foreign domain pointed at 127.0.0.1 stays foreign.
* CORS only for the origins listed in ``api.cors_origins``.

Requests with neither header (curl, SDKs, the web UI's server side) are not browsers' and pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class CrossSiteWriteGuard:
    """Pure ASGI: refuses unsafe methods coming from a foreign page (no buffering, streams untouched)."""

    def __init__(self, app: ASGIApp, own_origins: Iterable[str]) -> None:
        self.app = app
        self.own_origins = {o.rstrip("/").lower() for o in own_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1").strip()
        if not origin or origin == "null":
            referer = headers.get(b"referer", b"").decode("latin-1").strip()
            origin = (_origin_of(referer) or "null") if referer else origin
        if origin and origin.rstrip("/").lower() not in self.own_origins:
            body = json.dumps(
                {"code": 403, "msg": f"cross-site request from {origin} refused", "data": None}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def add_browser_guards(
    app: object,
    *,
    allowed_hosts: list[str],
    own_origins: Iterable[str],
    cors_origins: list[str] | None = None,
) -> None:
    """Install the three guards on a Starlette/FastAPI app (outermost last: Host first, then Origin)."""
    add = app.add_middleware  # type: ignore[attr-defined]
    if cors_origins:
        add(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_credentials=False,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    add(CrossSiteWriteGuard, own_origins=own_origins)
    add(TrustedHostMiddleware, allowed_hosts=allowed_hosts)


def guard_streamlit_hosts(allowed_hosts: list[str]) -> None:
    """Streamlit does not check ``Host``; put starlette's check in front of its own middleware.

    Streamlit 1.67 serves through Starlette; its app is built by ``create_starlette_app``, which
    takes its middleware from ``create_streamlit_middleware`` of the same module.
    """
    from starlette.middleware import Middleware
    from streamlit.web.server.starlette import starlette_app

    streamlit_middleware = starlette_app.create_streamlit_middleware
    if getattr(streamlit_middleware, "_host_guarded", False):
        return

    def guarded() -> list[Middleware]:
        return [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts), *streamlit_middleware()]

    guarded._host_guarded = True  # type: ignore[attr-defined]
    starlette_app.create_streamlit_middleware = guarded
