"""Model workers as the launcher sees them: N replicas per model, started at launch and on request."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from configs import Settings
from server.launcher import readiness, services
from server.launcher.control import ControlReply, ControlRequest
from server.launcher.supervisor import Service, Supervisor, log_tail

logger = logging.getLogger(__name__)

PREFIX = "model_worker-"
SHOWN_LOG_LINES = 20  # of a worker that is not serving, for the Models page


def service_name(model: str, replica: int) -> str:
    """``model_worker-NAME`` for the first replica (as before replicas existed), ``NAME@2`` ... after."""
    return f"{PREFIX}{model}" if replica == 0 else f"{PREFIX}{model}@{replica + 1}"


class WorkerManager:
    def __init__(self, supervisor: Supervisor, settings: Settings, controller_address: str) -> None:
        self._supervisor = supervisor
        self._settings = settings
        self._controller = controller_address
        self._models: dict[str, str] = {}  # service name -> model name
        supervisor.on_exit = self._exited

    def services(self, name: str) -> list[Service]:
        made = []
        for replica, address in enumerate(self._settings.worker_addresses(name)):
            service = self._supervisor.service(
                service_name(name, replica),
                services.run_model_worker,
                readiness.worker_ready(address.url, self._controller, name),
                address.url,
                name,
                replica,
                essential=False,  # the launch goes on without a model that cannot start
            )
            self._models[service.name] = name
            made.append(service)
        return made

    def start(self, name: str, retry: bool = True) -> list[Service]:
        """Start every replica of a model; the ones that cannot start are left as failed."""
        started = self.services(name)
        for service in started:
            self._supervisor.start(service, retry=retry)
        return started

    def _of(self, name: str) -> list[Service]:
        return [s for s in self._supervisor.services if self._models.get(s.name) == name and not s.stopping]

    def running(self) -> tuple[str, ...]:
        """Models with at least one worker that serves, or is about to again."""
        return tuple(
            name
            for name in dict.fromkeys(self._models.values())
            if any(s.state != "failed" for s in self._of(name))
        )

    def serving(self) -> list[str]:
        """Models with a worker ready now."""
        return [
            name
            for name in dict.fromkeys(self._models.values())
            if any(s.state == "ready" for s in self._of(name))
        ]

    def states(self) -> dict[str, dict[str, Any]]:
        """Per model: running (a worker is ready), restarting, starting or failed, and its replicas."""
        report: dict[str, dict[str, Any]] = {}
        for name in dict.fromkeys(self._models.values()):
            replicas = self._of(name)
            if not replicas:
                continue
            ready = [s for s in replicas if s.state == "ready"]
            restarting = [
                s for s in replicas if s.state == "backoff" or (s.state == "starting" and s.restarts)
            ]
            starting = [s for s in replicas if s.state == "starting" and not s.restarts]
            failed = [s for s in replicas if s.state == "failed"]
            status = (
                "running" if ready else "restarting" if restarting else "starting" if starting else "failed"
            )
            report[name] = {
                "status": status,
                "replicas": len(replicas),
                "ready": len(ready),
                "restarting": len(restarting),
                "failed": len(failed),
                "restarts": sum(s.restarts for s in replicas),
            }
            if status != "running":  # why it is not serving, from the log of a replica that is not
                troubled = (failed or restarting or starting)[0]
                report[name]["log_tail"] = log_tail(troubled.log_path, SHOWN_LOG_LINES)
        return report

    def _exited(self, service: Service) -> None:
        """A worker died: tell the controller now, so no request is sent to it meanwhile."""
        if service.name in self._models:
            from server.llm.failover import FAILED_PATH

            self._supervisor.post(
                f"{self._controller}{FAILED_PATH}",
                {"worker_name": service.url, "reason": f"the process exited with code {service.last_exit}"},
            )

    def handle(self, request: ControlRequest) -> ControlReply:
        """Answer the backend: start or stop one model's workers, or report the models' states."""
        if request.op == "status":
            return self._reply(True, "ok")
        if request.model not in self._settings.llm_models:
            configured = ", ".join(self._settings.llm_models)
            return ControlReply(False, f"model {request.model!r} is not configured; configured: {configured}")
        if request.op == "start":
            return self._start(request.model)
        if request.op == "stop":
            return self._stop(request.model)
        return ControlReply(False, f"unknown operation {request.op!r}")

    def _reply(self, ok: bool, message: str) -> ControlReply:
        return ControlReply(ok, message, self.running(), self.states())

    def _start(self, name: str) -> ControlReply:
        existing = self._of(name)
        if existing and all(s.state in ("ready", "starting", "backoff") for s in existing):
            return self._reply(True, f"{name} is already running")
        for service in existing:  # a model given up on: start it afresh
            self._supervisor.stop(service, wait=2)
        started = self.start(name, retry=False)  # the one who asked hears about a failure at once
        if not any(s.state == "ready" for s in started):
            reasons = "; ".join(
                f"{s.name} exited with code {s.last_exit} (log: {s.log_path})" for s in started
            )
            tail = log_tail(started[0].log_path, SHOWN_LOG_LINES) if started else ""
            for service in started:
                self._supervisor.stop(service, wait=2)
            # The first line says what happened; the rest is the end of the worker's log.
            return self._reply(False, f"{name} could not be started: {reasons}\n{tail}".rstrip())
        return self._reply(True, f"{name} is serving")

    def _stop(self, name: str) -> ControlReply:
        """SIGTERM the workers: they stop taking requests at once and finish the ones in flight."""
        replicas = self._of(name)
        if not replicas:
            return self._reply(False, f"model {name!r} is not running")
        for service in replicas:
            self._supervisor.stop(service, wait=None)
        for service in replicas:
            self._wait_until_closed(service.url)
        self._supervisor.post(f"{self._controller}/refresh_all_workers")  # drops them from the controller now
        return self._reply(True, f"{name} stopped")

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
