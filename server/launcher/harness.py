"""Run the real stack as a child process on free ports: what tests and benchmarks start.

It starts ``startup.py`` exactly as a user does, with ``CHATCHAT_*`` variables pointing every
service at a free port and every file at a scratch directory, and stops it with SIGINT.

Stacks are single-user (``auth.enabled: false``) unless the caller's environment turns accounts on
(``CHATCHAT_AUTH__ENABLED=true``): tests of access use real accounts, the others need none.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from configs import PROJECT_ROOT

STARTUP = PROJECT_ROOT / "startup.py"
READY_LINE = "Chatchat is running"


WORKER_PORTS = 4  # consecutive free ports from worker_base_port: room for replicas


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` different free ports: every socket is held until all are chosen.

    Asking for one port at a time can hand out the same port twice once the first socket is
    closed; two services of one stack would then race for it.
    """
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port_run(count: int, avoid: set[int] | None = None) -> int:
    """The first of ``count`` consecutive ports that are free now (and not in ``avoid``)."""
    for _ in range(100):
        first = free_port()
        if first + count > 65535 or set(range(first, first + count)) & (avoid or set()):
            continue
        sockets = []
        try:
            for port in range(first, first + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return first
    raise RuntimeError(f"no {count} consecutive free ports")


@dataclass
class StackEndpoints:
    controller: str
    worker: str
    openai_api: str
    api: str
    webui: str


@dataclass
class RunningStack:
    process: subprocess.Popen
    urls: StackEndpoints
    root: Path
    output: Path
    env: dict[str, str] = field(repr=False)

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def cluster_secret(self) -> str:
        """The secret the stack's controller and workers want (generated at its first start)."""
        return (self.data_dir / "secrets" / "cluster_secret").read_text(encoding="utf-8").strip()

    def read_output(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        """Signal the launcher and wait for it; kill its whole session if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        return int(self.process.returncode)


def stack_env(root: Path, extra: dict[str, str] | None = None) -> tuple[dict[str, str], StackEndpoints]:
    """Environment for a stack on fresh ports with its data and logs under ``root``."""
    names = ("controller", "openai_api", "api", "webui")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    ports["worker"] = free_port_run(WORKER_PORTS, avoid=set(ports.values()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATCHAT_")}
    env.update(
        {
            "CHATCHAT_CONTROLLER__PORT": str(ports["controller"]),
            "CHATCHAT_OPENAI_API__PORT": str(ports["openai_api"]),
            "CHATCHAT_API__PORT": str(ports["api"]),
            "CHATCHAT_WEBUI__PORT": str(ports["webui"]),
            "CHATCHAT_WORKER_BASE_PORT": str(ports["worker"]),
            "CHATCHAT_DATA_DIR": str(root / "data"),
            "CHATCHAT_LOG_DIR": str(root / "logs"),
            "CHATCHAT_AUTH__ENABLED": "false",  # single-user unless the caller asks for accounts
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    return env, StackEndpoints(**url)


def start_stack(
    root: Path,
    args: Sequence[str] = ("--all-api",),
    env: dict[str, str] | None = None,
    timeout: float = 300.0,
) -> RunningStack:
    """Start ``startup.py`` and return once it printed its banner (all services ready)."""
    root.mkdir(parents=True, exist_ok=True)
    full_env, urls = stack_env(root, env)
    output = root / "startup.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, str(STARTUP), *args],
            cwd=PROJECT_ROOT,
            env=full_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # SIGINT goes to the launcher alone, as the tests decide
        )
    stack = RunningStack(process, urls, root, output, full_env)
    deadline = time.monotonic() + timeout
    while READY_LINE not in stack.read_output():
        if process.poll() is not None:
            raise RuntimeError(
                f"the stack exited with {process.returncode} while starting:\n{stack.read_output()}"
            )
        if time.monotonic() > deadline:
            stack.stop()
            raise TimeoutError(f"the stack was not ready in {timeout:.0f}s:\n{stack.read_output()}")
        time.sleep(0.1)
    return stack


@contextmanager
def running_stack(
    root: Path,
    args: Sequence[str] = ("--all-api",),
    env: dict[str, str] | None = None,
    timeout: float = 300.0,
) -> Iterator[RunningStack]:
    stack = start_stack(root, args, env, timeout)
    try:
        yield stack
    finally:
        stack.stop()
