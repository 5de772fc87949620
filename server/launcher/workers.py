"""Model workers as the launcher sees them: started at launch, and on the backend's request."""

from __future__ import annotations

import logging
import time

import httpx

from configs import Settings
from server.launcher import readiness, services
from server.launcher.control import ControlReply, ControlRequest
from server.launcher.supervisor import Service, ServiceFailed, Supervisor

logger = logging.getLogger(__name__)

PREFIX = "model_worker-"


class WorkerManager:
    def __init__(self, supervisor: Supervisor, settings: Settings, controller_address: str) -> None:
        self._supervisor = supervisor
        self._settings = settings
        self._controller = controller_address

    def service(self, name: str) -> Service:
        url = self._settings.worker_address(name).url
        return self._supervisor.service(
            f"{PREFIX}{name}",
            services.run_model_worker,
            readiness.worker_ready(url, self._controller, name),
            url,
            name,
        )

    def start(self, name: str) -> None:
        self._supervisor.start(self.service(name))

    def running(self) -> tuple[str, ...]:
        return tuple(
            s.name.removeprefix(PREFIX)
            for s in self._supervisor.services
            if s.name.startswith(PREFIX) and not s.stopping
        )

    def handle(self, request: ControlRequest) -> ControlReply:
        """Answer the backend: start or stop one model's worker, or list the running ones."""
        if request.op == "status":
            return ControlReply(True, "ok", self.running())
        if request.model not in self._settings.llm_models:
            configured = ", ".join(self._settings.llm_models)
            return ControlReply(False, f"model {request.model!r} is not configured; configured: {configured}")
        if request.op == "start":
            return self._start(request.model)
        if request.op == "stop":
            return self._stop(request.model)
        return ControlReply(False, f"unknown operation {request.op!r}")

    def _start(self, name: str) -> ControlReply:
        if name in self.running():
            return ControlReply(True, f"{name} is already running", self.running())
        service = self.service(name)
        try:
            self._supervisor.start(service)
        except ServiceFailed as exc:
            self._supervisor.stop(service, wait=2)
            return ControlReply(False, str(exc), self.running())
        return ControlReply(True, f"{name} is serving", self.running())

    def _stop(self, name: str) -> ControlReply:
        """SIGTERM the worker: it stops taking requests at once and finishes the ones in flight."""
        service = self._supervisor.find(f"{PREFIX}{name}")
        if service is None:
            return ControlReply(False, f"model {name!r} is not running", self.running())
        self._supervisor.stop(service, wait=None)
        self._wait_until_closed(service.url)
        self._supervisor.post(f"{self._controller}/refresh_all_workers")  # drops it from the controller now
        return ControlReply(True, f"{name} stopped", self.running())

    @staticmethod
    def _wait_until_closed(url: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=0.5, trust_env=False) as client:
            while time.monotonic() < deadline:
                try:
                    client.post(f"{url}/worker_get_status")
                except httpx.HTTPError:
                    return
                time.sleep(0.05)
        logger.warning("%s still answers after SIGTERM", url)
