"""Starts services one after another, restarts the ones that die, and stops them all in reverse order.

A service that dies is restarted after 1 s, 2 s, 4 s ... (at most ``MAX_BACKOFF_S``). One that
keeps dying soon after it starts (``QUICK_S``) is given up on after ``GIVE_UP_AFTER`` such deaths
in a row and reported; the rest keeps running. Every restart is logged with the exit code and the
end of the dead process's log. Restarts never block the launcher: it keeps watching the other
services and answering the backend while one waits or starts.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from server.core.exit_codes import EXIT_CONFIG
from server.core.logging import log_file
from server.launcher.control import ControlReply, ControlRequest
from server.launcher.readiness import Probe
from server.launcher.services import ServiceContext, ServiceTarget, service_main
from server.llm.cluster_auth import cluster_headers

logger = logging.getLogger(__name__)

PROBE_INTERVAL_S = 0.1
QUICK_S = 10.0  # a death this soon after the start counts towards giving up
GIVE_UP_AFTER = 5
MAX_BACKOFF_S = 60.0
LOG_TAIL_LINES = 15

ControlHandler = Callable[[ControlRequest], ControlReply]
State = Literal["starting", "ready", "backoff", "failed"]


class ServiceFailed(RuntimeError):
    """A service died or never became ready, and will not be retried; the message names its log."""

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
    make_args: Callable[[], tuple[Any, ...]] | None = None  # fresh arguments for every start
    essential: bool = True  # if it cannot be started at launch, the launch fails
    process: BaseProcess | None = field(default=None, repr=False)
    stopping: bool = False  # asked to stop: its exit is expected, not a failure
    state: State = "starting"
    started_at: float = 0.0
    died_at: float = 0.0
    restart_at: float = 0.0
    restarts: int = 0
    quick_deaths: int = 0  # deaths soon after a start, in a row
    give_up_after: int = GIVE_UP_AFTER
    last_exit: int | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except OSError:
        return "(no log)"


def port_taken(url: str) -> bool:
    """Whether something already accepts connections where a service is about to listen."""
    parts = urlsplit(url)
    if parts.port is None:
        return False
    host = parts.hostname or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    try:
        with socket.create_connection((host, parts.port), timeout=0.5):
            return True
    except OSError:
        return False


def backoff(quick_deaths: int) -> float:
    """1 s, 2 s, 4 s ... for deaths in a row; a process that had been running a while starts at 1 s."""
    return min(MAX_BACKOFF_S, 2.0 ** max(0, quick_deaths - 1))


def _cluster_headers(ctx: ServiceContext) -> dict[str, str]:
    secret = ctx.settings.auth.cluster_secret
    return cluster_headers(secret.get_secret_value()) if secret is not None else {}


class Supervisor:
    """Owns the child processes of one launch."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.services: list[Service] = []
        self.on_exit: Callable[[Service], None] | None = None  # told about every unexpected exit
        self._mp = multiprocessing.get_context("spawn")
        self._http = httpx.Client(
            timeout=httpx.Timeout(5.0, connect=1.0),
            trust_env=False,
            headers=_cluster_headers(ctx),  # probes reach the services that want the cluster secret
        )
        self._control: Connection | None = None
        self._child_end: Connection | None = None

    # ---- the backend's channel --------------------------------------------------------------

    def control_channel(self) -> Connection:
        """A fresh pipe to the backend: the launcher keeps one end, the returned end goes to the child.

        Called again when the backend restarts; the old pipe is closed.
        """
        for old in (self._control, self._child_end):
            if old is not None:
                old.close()
        ours, theirs = self._mp.Pipe(duplex=True)
        self._control, self._child_end = ours, theirs
        return theirs

    # ---- services ---------------------------------------------------------------------------

    def service(
        self,
        name: str,
        target: ServiceTarget,
        probe: Probe,
        url: str,
        *args: Any,
        make_args: Callable[[], tuple[Any, ...]] | None = None,
        essential: bool = True,
    ) -> Service:
        return Service(
            name,
            target,
            args,
            probe,
            url,
            log_file(self.ctx.settings.log_dir, name),
            make_args=make_args,
            essential=essential,
        )

    def _spawn(self, service: Service) -> None:
        args = service.make_args() if service.make_args is not None else service.args
        process = self._mp.Process(
            target=service_main,
            args=(service.name, service.target, self.ctx, *args),
            name=service.name,
        )
        process.start()
        service.process = process
        service.state = "starting"
        service.started_at = time.monotonic()
        logger.info("starting %s (pid %s)", service.name, process.pid)

    def _probe(self, service: Service) -> bool:
        try:
            return bool(service.probe(self._http))
        except (httpx.HTTPError, ValueError):
            return False

    def start(self, service: Service, retry: bool = True) -> None:
        """Start a service and return once it answers its readiness probe.

        A service that dies while starting is retried with backoff (unless ``retry`` is off: a
        start someone asked for answers at once); after ``GIVE_UP_AFTER`` tries an essential one
        raises :class:`ServiceFailed`, any other one stays listed as failed.
        """
        if service not in self.services:
            self.services.append(service)
        service.stopping = False
        service.quick_deaths = 0
        service.give_up_after = GIVE_UP_AFTER if retry else 1
        first = time.monotonic()
        if port_taken(service.url):
            # Whatever answers there is not this service: starting it would leave its clients
            # talking to another program, so the start is refused and said out loud.
            service.state = "failed"
            reason = f"cannot start: {service.url} is already in use by another program"
            if service.essential:
                raise ServiceFailed(service, reason)
            logger.error("%s %s", service.name, reason)
            print(f"startup.py: {service.name} {reason}", file=sys.stderr, flush=True)
            return
        self._spawn(service)
        while True:
            if service.state == "starting" and self._starting_step(service):
                logger.info("%s ready at %s in %.1fs", service.name, service.url, time.monotonic() - first)
                service.give_up_after = GIVE_UP_AFTER  # from now on it is healed like any other
                return
            if service.state == "failed":
                if service.essential:
                    raise ServiceFailed(service, f"could not be started ({self._death(service)})")
                return
            if service.state == "backoff":
                pause = service.restart_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                self._spawn(service)
                continue
            assert service.process is not None
            service.process.join(PROBE_INTERVAL_S)

    def _starting_step(self, service: Service) -> bool:
        """One look at a starting service: True once ready; a death or a timeout schedules a retry."""
        assert service.process is not None
        if not service.process.is_alive():
            self._died(service)
            return False
        if self._probe(service):
            service.state = "ready"
            return True
        if time.monotonic() - service.started_at > self.ctx.settings.startup_timeout:
            logger.error(
                "%s was not ready after %.0fs; killing it", service.name, self.ctx.settings.startup_timeout
            )
            service.process.kill()
            service.process.join(5)
            self._died(service, "was not ready in time")
        return False

    @staticmethod
    def _death(service: Service) -> str:
        return f"exit code {service.last_exit}"

    def _died(self, service: Service, reason: str | None = None) -> None:
        """Record an unexpected exit and decide: restart later, or give up."""
        assert service.process is not None
        service.process.join()
        now = time.monotonic()
        service.last_exit = service.process.exitcode
        service.died_at = now
        quick = service.state == "starting" or now - service.started_at < QUICK_S
        service.quick_deaths = service.quick_deaths + 1 if quick else 0
        what = reason or f"exited with code {service.last_exit}"
        if service.last_exit == EXIT_CONFIG:  # its configuration is refused: a restart cannot help
            service.quick_deaths = max(service.quick_deaths, service.give_up_after)
            what += " (its configuration was refused)"
        tail = log_tail(service.log_path)
        if self.on_exit is not None:
            try:
                self.on_exit(service)
            except Exception:
                logger.exception("reporting the exit of %s failed", service.name)
        if service.quick_deaths >= service.give_up_after:
            service.state = "failed"
            times = "once" if service.quick_deaths == 1 else f"{service.quick_deaths} times in a row"
            message = (
                f"{service.name} {what}; it died within {QUICK_S:.0f}s of starting {times}: giving up on it "
                f"(the other services keep running). See its log: {service.log_path}"
            )
            logger.error("%s\n--- end of %s ---\n%s", message, service.log_path.name, tail)
            print(f"startup.py: {message}", file=sys.stderr, flush=True)
            return
        delay = backoff(max(1, service.quick_deaths))
        service.state = "backoff"
        service.restart_at = now + delay
        service.restarts += 1
        logger.warning(
            "%s %s; restarting it in %.0fs (restart %d). End of its log %s:\n%s",
            service.name,
            what,
            delay,
            service.restarts,
            service.log_path,
            tail,
        )

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

    # ---- the watch loop ---------------------------------------------------------------------

    def watch(self, handle: ControlHandler | None = None, until: Callable[[], bool] | None = None) -> None:
        """Restart what dies, start what is due, serve control requests.

        Runs until a signal unwinds it (or, for tests, until ``until()`` is true).
        """
        while until is None or not until():
            now = time.monotonic()
            due = [s.restart_at for s in self.services if s.state == "backoff" and not s.stopping]
            starting = any(s.state == "starting" and s.alive for s in self.services)
            timeout = min(
                [max(0.0, t - now) for t in due] + ([PROBE_INTERVAL_S] if starting or until else []),
                default=None,
            )
            sentinels = {
                s.process.sentinel: s
                for s in self.services
                if s.process is not None
                and not s.stopping
                and s.state in ("starting", "ready")
                and s.process.exitcode is None
            }
            stopped = {s.process.sentinel: s for s in self.services if s.stopping and s.process is not None}
            control = self._control
            waitables: list[Any] = [*sentinels, *stopped, *([control] if control is not None else [])]
            for ready in multiprocessing.connection.wait(waitables, timeout):
                if ready is control and control is not None and handle is not None:
                    self._serve_control(control, handle)
                elif ready in stopped:
                    service = stopped[ready]
                    assert service.process is not None
                    service.process.join()
                    self._forget(service)
                elif ready in sentinels:
                    self._died(sentinels[ready])
            now = time.monotonic()
            for service in list(self.services):
                if service.stopping:
                    continue
                if service.state == "backoff" and service.restart_at <= now:
                    self._spawn(service)
                elif service.state == "starting" and service.alive and self._starting_step(service):
                    logger.info(
                        "%s serves again at %s, %.1fs after it died (restart %d)",
                        service.name,
                        service.url,
                        now - service.died_at,
                        service.restarts,
                    )

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
        try:
            control.send(reply)
        except (OSError, EOFError):
            logger.warning("the backend left before the answer to %r", request)

    def post(self, url: str, json: Any = None) -> None:
        """Best-effort POST from the launcher (e.g. tell the controller a worker died)."""
        try:
            self._http.post(url, json=json)
        except httpx.HTTPError as exc:
            logger.warning("POST %s failed: %s", url, exc)

    def stop_all(self) -> None:
        """SIGTERM each service in reverse start order; SIGKILL whatever is left at the deadline."""
        deadline = time.monotonic() + self.ctx.settings.shutdown_timeout
        for service in reversed(self.services):
            service.stopping = True
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
