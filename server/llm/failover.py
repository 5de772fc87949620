"""Failover between the workers of one model, on top of FastChat 0.2.36's controller and API server.

FastChat keeps a dead worker registered for 90-180 s (heartbeat every 45 s, expiry after 90 s,
swept every 90 s), its lottery dispatch never re-picks and its API server never retries, so a
request sent to a dead worker just fails. The patches here, applied by ``fastchat_compat``:

* **workers** send a heartbeat every ``HEARTBEAT_S`` seconds;
* **the controller** drops a worker that missed its heartbeats for ``EXPIRY_S`` seconds (swept
  every second, so a dead worker is gone within about ``EXPIRY_S + HEARTBEAT_S``); a worker
  reported failed (``/worker_failed``, by the API server or the launcher) is skipped by dispatch
  until its next heartbeat or registration; ``/get_worker_address`` accepts ``exclude``;
* **the API server** retries a request once on another worker of the same model when its worker
  fails before the first token (connection refused or reset, timeout, 5xx). After the first token
  nothing can be retried without repeating text, so the client gets an error frame instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Request

logger = logging.getLogger(__name__)

HEARTBEAT_S = 3
EXPIRY_S = 9
SWEEP_S = 1.0
CONNECT_S = 5.0  # to open a connection to a worker
RESPONSE_START_S = 20.0  # for a worker's response headers (ours answer at once; FastChat's queue first)
FAILED_PATH = "/worker_failed"
# Endpoints of a worker that the API server calls with {"model": ...} in the payload.
WORKER_PATHS = (
    "/worker_generate_stream",
    "/worker_generate",
    "/worker_get_conv_template",
    "/worker_get_embeddings",
    "/count_token",
    "/model_details",
)


class WorkerHTTPError(Exception):
    """A worker answered with a 5xx status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status


class WorkerUnavailable(Exception):
    """No worker of a model could be reached for a call; the API server answers 503."""


def failures() -> tuple[type[BaseException], ...]:
    """What counts as a worker failing: it is unreachable, reset the connection, timed out, or 5xx."""
    import aiohttp

    return (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, WorkerHTTPError)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# Workers


def prepare_worker() -> None:
    """Heartbeats every HEARTBEAT_S (FastChat's loop reads the module global at every beat)."""
    from fastchat.serve import base_model_worker

    base_model_worker.WORKER_HEART_BEAT_INTERVAL = HEARTBEAT_S


# ---------------------------------------------------------------------------------------------
# Controller


class _Health:
    """Workers reported failed, and since when; cleared by their next heartbeat or registration."""

    def __init__(self) -> None:
        self._failed: dict[str, float] = {}
        self._lock = threading.Lock()

    def fail(self, worker: str) -> None:
        with self._lock:
            self._failed[worker] = time.monotonic()

    def clear(self, worker: str) -> None:
        with self._lock:
            self._failed.pop(worker, None)

    def failed(self) -> set[str]:
        with self._lock:
            return set(self._failed)


def pick_worker(controller: Any, model_name: str, exclude: set[str], failed: set[str]) -> str:
    """FastChat's dispatch (shortest queue or lottery) over the workers that have not failed.

    When every worker of the model failed recently, one is still tried: it may be back, and a
    fast failure tells the client more than "no worker".
    """
    from fastchat.serve.controller import DispatchMethod

    candidates = [
        (name, info)
        for name, info in list(controller.worker_info.items())
        if model_name in info.model_names and name not in exclude
    ]
    pool = [(name, info) for name, info in candidates if name not in failed] or candidates
    if not pool:
        return ""
    if controller.dispatch_method == DispatchMethod.LOTTERY:
        weights = [max(float(info.speed), 1e-4) for _, info in pool]
        return random.choices([name for name, _ in pool], weights=weights)[0]
    name, info = min(pool, key=lambda item: item[1].queue_length / max(float(item[1].speed), 1e-4))
    info.queue_length += 1  # until its next heartbeat reports the real length
    return name


def _sweep(controller: Any) -> None:
    """Replaces FastChat's sweep (every 90 s): drop workers whose heartbeats stopped, every second."""
    while True:
        time.sleep(SWEEP_S)
        try:
            expire = time.time() - EXPIRY_S
            for name, info in list(controller.worker_info.items()):
                if info.check_heart_beat and info.last_heart_beat < expire:
                    controller.worker_info.pop(name, None)
                    logger.info("worker %s missed its heartbeats for %ss: removed", name, EXPIRY_S)
        except Exception:  # the sweep must outlive any surprise
            logger.exception("sweeping stale workers failed")


def install_controller(module: Any) -> None:  # fastchat.serve.controller, patched in place
    """Patch ``fastchat.serve.controller`` before its ``Controller`` is built."""
    from fastapi.routing import APIRoute

    health = _Health()
    module.CONTROLLER_HEART_BEAT_EXPIRATION = EXPIRY_S
    module.heart_beat_controller = _sweep
    controller_class = module.Controller
    original_register = controller_class.register_worker
    original_heart_beat = controller_class.receive_heart_beat

    def register_worker(self: Any, worker_name: str, *args: Any, **kwargs: Any) -> bool:
        ok = bool(original_register(self, worker_name, *args, **kwargs))
        if ok:
            health.clear(worker_name)
        return ok

    def receive_heart_beat(self: Any, worker_name: str, queue_length: int) -> bool:
        exist = bool(original_heart_beat(self, worker_name, queue_length))
        if exist:
            health.clear(worker_name)
        return exist

    def get_worker_address(self: Any, model_name: str, exclude: set[str] | None = None) -> str:
        return pick_worker(self, model_name, exclude or set(), health.failed())

    controller_class.register_worker = register_worker
    controller_class.receive_heart_beat = receive_heart_beat
    controller_class.get_worker_address = get_worker_address

    app = module.app
    app.router.routes[:] = [
        r for r in app.router.routes if not (isinstance(r, APIRoute) and r.path == "/get_worker_address")
    ]

    @app.post("/get_worker_address")
    async def worker_address(request: Request) -> dict[str, str]:
        data = await request.json()
        exclude = {str(name) for name in data.get("exclude") or []}
        return {"address": module.controller.get_worker_address(data["model"], exclude)}

    @app.post(FAILED_PATH)
    async def worker_failed(request: Request) -> dict[str, bool]:
        """Skip this worker in dispatch until it sends a heartbeat again."""
        data = await request.json()
        name = str(data.get("worker_name", ""))
        known = name in module.controller.worker_info
        if known:
            health.fail(name)
            logger.warning(
                "worker %s reported failed (%s): skipped until its next heartbeat", name, data.get("reason")
            )
        return {"known": known}


# ---------------------------------------------------------------------------------------------
# API server

Fetch = Callable[..., Awaitable[Any]]
Stream = Callable[[dict[str, Any], str], AsyncIterator[dict[str, Any]]]


def split_worker_url(url: str) -> tuple[str, str] | None:
    """(worker address, path) when ``url`` is one of a worker's endpoints."""
    for path in WORKER_PATHS:
        if url.endswith(path):
            return url[: -len(path)], path
    return None


def install_api_server(api: Any) -> None:  # fastchat.serve.openai_api_server, patched in place
    """Wrap the API server's worker calls (``fetch_remote``, ``generate_completion_stream``) with failover."""
    from fastchat.constants import ErrorCode

    raw_fetch: Fetch = api.fetch_remote
    raw_stream: Stream = api.generate_completion_stream
    recent: dict[str, float] = {}  # workers that failed here lately: not tried first for a while

    def controller() -> str:
        return str(api.app_settings.controller_address)

    async def report(worker: str, reason: str) -> None:
        recent[worker] = time.monotonic()
        try:
            await raw_fetch(controller() + FAILED_PATH, {"worker_name": worker, "reason": reason}, None)
        except Exception as exc:  # the controller may be down too; dispatch then fails on its own
            logger.warning("could not report worker %s to the controller: %s", worker, describe(exc))

    async def another(model: str, exclude: set[str]) -> str:
        try:
            answer = await raw_fetch(
                controller() + "/get_worker_address", {"model": model, "exclude": sorted(exclude)}, "address"
            )
        except Exception as exc:
            logger.warning("could not ask the controller for another worker: %s", describe(exc))
            return ""
        return answer if isinstance(answer, str) and answer.startswith(("http://", "https://")) else ""

    async def first_choice(model: str, worker: str) -> str:
        """The dispatched worker, unless it failed here in the last few seconds."""
        failed_at = recent.get(worker)
        if failed_at is None or time.monotonic() - failed_at > 2 * HEARTBEAT_S:
            return worker
        return await another(model, {worker}) or worker

    async def fetch_remote(url: str, pload: Any = None, name: str | None = None) -> Any:
        target = split_worker_url(url)
        model = pload.get("model") if isinstance(pload, dict) else None
        if target is None or not model:
            return await raw_fetch(url, pload, name)
        worker, path = target
        worker = await first_choice(model, worker)
        try:
            return await raw_fetch(worker + path, pload, name)
        except failures() as exc:
            await report(worker, describe(exc))
            other = await another(model, {worker})
            if not other:
                raise WorkerUnavailable(
                    f"no worker of model {model!r} answers now ({describe(exc)})"
                ) from exc
            logger.warning("worker %s failed (%s); %s goes to %s", worker, describe(exc), path, other)
            try:
                return await raw_fetch(other + path, pload, name)
            except failures() as again:
                await report(other, describe(again))
                raise WorkerUnavailable(
                    f"no worker of model {model!r} answers now ({describe(again)})"
                ) from again

    async def unavailable(request: Any, exc: Exception) -> Any:
        from fastapi.responses import JSONResponse

        logger.error("%s", exc)
        body = {"object": "error", "message": str(exc), "code": int(ErrorCode.CONTROLLER_NO_WORKER)}
        return JSONResponse(body, status_code=503)

    api.app.add_exception_handler(WorkerUnavailable, unavailable)

    async def generate_completion_stream(payload: dict[str, Any], worker_addr: str) -> AsyncIterator[dict]:
        model = str(payload.get("model") or "")
        worker = await first_choice(model, worker_addr) if model else worker_addr
        tried: set[str] = set()
        while True:
            tried.add(worker)
            started = False
            try:
                async for frame in raw_stream(payload, worker):
                    started = True
                    yield frame
                return
            except failures() as exc:
                reason = describe(exc)
                await report(worker, reason)
                if started:
                    logger.error("worker %s failed mid-answer: %s", worker, reason)
                    yield _error(f"the model worker failed mid-answer ({reason})", ErrorCode.INTERNAL_ERROR)
                    return
                other = await another(model, tried) if model and len(tried) == 1 else ""
                if not other or other in tried:
                    logger.error(
                        "worker %s failed before the first token: %s; no other worker", worker, reason
                    )
                    yield _error(f"the model worker is unavailable ({reason})", ErrorCode.INTERNAL_ERROR)
                    return
                logger.warning(
                    "worker %s failed before the first token (%s); retrying on %s", worker, reason, other
                )
                worker = other

    api.fetch_remote = fetch_remote
    api.generate_completion_stream = generate_completion_stream


def _error(message: str, code: int) -> dict[str, Any]:
    from fastchat.constants import SERVER_ERROR_MSG

    return {"text": f"{SERVER_ERROR_MSG}\n\n({message})", "error_code": int(code)}
