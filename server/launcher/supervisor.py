"""Starts services one after another, watches them, and stops them all in reverse order."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx

from server.core.logging import log_file
from server.launcher.control import ControlReply, ControlRequest
from server.launcher.readiness import Probe
from server.launcher.services import ServiceContext, ServiceTarget, service_main
from server.llm.cluster_auth import cluster_headers

logger = logging.getLogger(__name__)

PROBE_INTERVAL_S = 0.1

ControlHandler = Callable[[ControlRequest], ControlReply]


class ServiceFailed(RuntimeError):
    """A service died or never became ready; the message names its log file."""

    def __init__(self, service: Service, reason: str) -> None:
        super().__init__(f"{service.name} {reason}; see its log: {service.log_path}")
        self.service = service


@dataclass
class Service:
    """One child process: what to run, how to tell it is ready, and where it logs."""

    name: str
    target: ServiceTarget
    args: tuple[Any, ...]
    probe: Probe
    url: str
    log_path: Path
    process: BaseProcess | None = field(default=None, repr=False)
    stopping: bool = False  # asked to stop: its exit is expected, not a failure

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()


def _cluster_headers(ctx: ServiceContext) -> dict[str, str]:
    secret = ctx.settings.auth.cluster_secret
    return cluster_headers(secret.get_secret_value()) if secret is not None else {}


class Supervisor:
    """Owns the child processes of one launch."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.services: list[Service] = []
        self._mp = multiprocessing.get_context("spawn")
        self._http = httpx.Client(
            timeout=httpx.Timeout(5.0, connect=1.0),
            trust_env=False,
            headers=_cluster_headers(ctx),  # probes reach the services that want the cluster secret
        )

    def pipe(self) -> tuple[Connection, Connection]:
        """A duplex pipe whose second end can be handed to a child process."""
        return self._mp.Pipe(duplex=True)

    def service(self, name: str, target: ServiceTarget, probe: Probe, url: str, *args: Any) -> Service:
        return Service(name, target, args, probe, url, log_file(self.ctx.settings.log_dir, name))

    def start(self, service: Service) -> None:
        """Start a service and return once it answers its readiness probe."""
        started = time.monotonic()
        process = self._mp.Process(
            target=service_main,
            args=(service.name, service.target, self.ctx, *service.args),
            name=service.name,
        )
        process.start()
        service.process = process
        self.services.append(service)
        logger.info("starting %s (pid %s)", service.name, process.pid)
        deadline = started + self.ctx.settings.startup_timeout
        while True:
            if not process.is_alive():
                raise ServiceFailed(service, f"exited with code {process.exitcode} while starting")
            try:
                if service.probe(self._http):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise ServiceFailed(service, f"was not ready after {self.ctx.settings.startup_timeout:.0f}s")
            process.join(PROBE_INTERVAL_S)
        logger.info("%s ready at %s in %.1fs", service.name, service.url, time.monotonic() - started)

    def find(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name and not s.stopping), None)

    def stop(self, service: Service, wait: float | None) -> None:
        """SIGTERM one service (it drains its requests); wait for it, or let ``watch`` reap it."""
        service.stopping = True
        if service.process is not None and service.process.is_alive():
            service.process.terminate()
            if wait is not None:
                service.process.join(wait)
                if service.process.is_alive():
                    service.process.kill()
                    service.process.join(1)
        if service.process is None or not service.process.is_alive():
            self._forget(service)

    def _forget(self, service: Service) -> None:
        if service in self.services:
            self.services.remove(service)
            logger.info("stopped %s", service.name)

    def watch(self, control: Connection | None = None, handle: ControlHandler | None = None) -> None:
        """Serve control requests until a service exits unexpectedly (then raise)."""
        while True:
            sentinels = {s.process.sentinel: s for s in self.services if s.process is not None}
            waitables: list[Any] = [*sentinels, *([control] if control is not None else [])]
            for ready in multiprocessing.connection.wait(waitables):
                if ready is control and control is not None and handle is not None:
                    self._serve_control(control, handle)
                    continue
                service = sentinels[ready]  # type: ignore[index]
                assert service.process is not None
                service.process.join()
                if service.stopping:
                    self._forget(service)
                    continue
                raise ServiceFailed(service, f"exited unexpectedly with code {service.process.exitcode}")

    def _serve_control(self, control: Connection, handle: ControlHandler) -> None:
        try:
            request = control.recv()
        except (EOFError, OSError):
            return  # the backend went away; its own sentinel reports that
        try:
            reply = handle(request)
        except Exception as exc:  # a bad request must not take the launcher down
            logger.exception("control request %r failed", request)
            reply = ControlReply(False, f"{type(exc).__name__}: {exc}")
        control.send(reply)

    def post(self, url: str) -> None:
        """Best-effort POST from the launcher (e.g. ask the controller to drop dead workers)."""
        try:
            self._http.post(url)
        except httpx.HTTPError as exc:
            logger.warning("POST %s failed: %s", url, exc)

    def stop_all(self) -> None:
        """SIGTERM each service in reverse start order; SIGKILL whatever is left at the deadline."""
        deadline = time.monotonic() + self.ctx.settings.shutdown_timeout
        for service in reversed(self.services):
            process = service.process
            if process is None or not process.is_alive():
                continue
            process.terminate()
            remaining = deadline - time.monotonic()
            process.join(max(0.0, min(remaining - 0.5, remaining / 2 + 1)))
            if process.is_alive():
                logger.warning("%s did not stop in time; killing it", service.name)
                process.kill()
                process.join(1)
            logger.info("stopped %s", service.name)
        self._http.close()
