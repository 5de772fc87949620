"""Starts services one after another, watches them, and stops them all in reverse order."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx

from server.core.logging import log_file
from server.launcher.readiness import Probe
from server.launcher.services import ServiceContext, ServiceTarget, service_main

logger = logging.getLogger(__name__)

PROBE_INTERVAL_S = 0.1


class ServiceFailed(RuntimeError):
    """A service died or never became ready; the message names its log file."""

    def __init__(self, service: "Service", reason: str) -> None:
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

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()


class Supervisor:
    """Owns the child processes of one launch."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.services: list[Service] = []
        self._mp = multiprocessing.get_context("spawn")
        self._http = httpx.Client(timeout=httpx.Timeout(5.0, connect=1.0), trust_env=False)

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

    def watch(self) -> None:
        """Block until a service exits; that is always an error while the launcher runs."""
        sentinels = {s.process.sentinel: s for s in self.services if s.process is not None}
        while sentinels:
            for ready in multiprocessing.connection.wait(list(sentinels)):
                service = sentinels[ready]  # type: ignore[index]
                assert service.process is not None
                service.process.join()
                raise ServiceFailed(service, f"exited unexpectedly with code {service.process.exitcode}")

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
