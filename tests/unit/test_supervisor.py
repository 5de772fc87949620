"""The supervisor heals: real child processes that crash are restarted, and given up on in the end.

The children are tiny functions of this module (the launcher spawns them as it spawns the real
services); the backoff is shortened so the policy, not the clock, is what is tested.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from configs import Settings
from server.launcher import supervisor as supervisor_module
from server.launcher.services import ServiceContext
from server.launcher.supervisor import GIVE_UP_AFTER, ServiceFailed, Supervisor


def crash_at_start(ctx: ServiceContext, marker: str) -> None:
    with open(marker, "a") as handle:
        handle.write("started\n")
    sys.exit(3)


def run_then_crash(ctx: ServiceContext, marker: str, lifetime: float) -> None:
    with open(marker, "a") as handle:
        handle.write("started\n")
    time.sleep(lifetime)
    logging.getLogger("flaky").error("the disk is on fire")
    sys.exit(5)


def run_forever(ctx: ServiceContext, marker: str) -> None:
    with open(marker, "a") as handle:
        handle.write("started\n")
    while True:
        time.sleep(1)


def starts(marker: Path) -> int:
    return marker.read_text().count("started") if marker.exists() else 0


@pytest.fixture
def supervisor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Supervisor:
    monkeypatch.setattr(supervisor_module, "backoff", lambda deaths: 0.05 * deaths)
    settings = Settings(log_dir=tmp_path / "logs", data_dir=tmp_path / "data", shutdown_timeout=5)
    sup = Supervisor(ServiceContext(settings=settings, controller_address="http://127.0.0.1:1"))
    yield sup
    sup.stop_all()


def ready_when_started(marker: Path):
    def probe(client: httpx.Client) -> bool:
        return starts(marker) > 0

    return probe


def test_a_service_that_crashes_at_start_is_given_up_on_after_its_retries(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    marker = tmp_path / "crash.txt"
    service = supervisor.service(
        "crasher", crash_at_start, lambda client: False, "-", str(marker), essential=False
    )
    supervisor.start(service)
    assert service.state == "failed" and service.last_exit == 3
    assert starts(marker) == GIVE_UP_AFTER
    assert service.restarts == GIVE_UP_AFTER - 1


def test_an_essential_service_that_cannot_start_fails_the_launch(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    marker = tmp_path / "crash.txt"
    service = supervisor.service("controller", crash_at_start, lambda client: False, "-", str(marker))
    with pytest.raises(ServiceFailed, match="controller could not be started"):
        supervisor.start(service)


def test_a_start_asked_for_without_retries_answers_after_one_try(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    marker = tmp_path / "crash.txt"
    service = supervisor.service(
        "once", crash_at_start, lambda client: False, "-", str(marker), essential=False
    )
    supervisor.start(service, retry=False)
    assert service.state == "failed" and starts(marker) == 1


def test_a_service_that_dies_later_is_restarted_while_the_others_run(
    supervisor: Supervisor, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flaky_marker, steady_marker = tmp_path / "flaky.txt", tmp_path / "steady.txt"
    steady = supervisor.service(
        "steady", run_forever, ready_when_started(steady_marker), "-", str(steady_marker)
    )
    flaky = supervisor.service(
        "flaky",
        run_then_crash,
        ready_when_started(flaky_marker),
        "-",
        str(flaky_marker),
        0.5,
        essential=False,
    )
    supervisor.start(steady)
    supervisor.start(flaky)
    exits: list[str] = []
    supervisor.on_exit = lambda service: exits.append(service.name)
    with caplog.at_level("WARNING", logger="server.launcher.supervisor"):
        supervisor.watch(until=lambda: starts(flaky_marker) >= 3 or flaky.state == "failed")
    assert starts(flaky_marker) >= 3 and flaky.restarts >= 2 and flaky.last_exit == 5
    assert exits and set(exits) == {"flaky"}
    assert steady.state == "ready" and steady.alive and starts(steady_marker) == 1
    [first, *_] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("flaky exited")]
    assert first.startswith("flaky exited with code 5; restarting it in")
    assert "the disk is on fire" in first  # the end of the dead process's own log


def test_stopping_a_service_is_not_a_death(supervisor: Supervisor, tmp_path: Path) -> None:
    marker = tmp_path / "steady.txt"
    service = supervisor.service("steady", run_forever, ready_when_started(marker), "-", str(marker))
    supervisor.start(service)
    supervisor.stop(service, wait=None)
    deadline = time.monotonic() + 20
    thread = threading.Thread(
        target=supervisor.watch, kwargs={"until": lambda: service not in supervisor.services}, daemon=True
    )
    thread.start()
    thread.join(20)
    assert time.monotonic() < deadline and service not in supervisor.services
    assert service.restarts == 0 and starts(marker) == 1


def test_a_port_another_program_holds_is_refused_not_shared(supervisor: Supervisor, tmp_path: Path) -> None:
    """A service whose port already answers would leave its clients talking to another program."""
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    url = f"http://127.0.0.1:{squatter.getsockname()[1]}"
    marker = tmp_path / "never.txt"
    try:
        quiet = supervisor.service(
            "webui", run_forever, lambda client: True, url, str(marker), essential=False
        )
        supervisor.start(quiet)
        assert quiet.state == "failed" and not quiet.alive
        essential = supervisor.service("api", run_forever, lambda client: True, url, str(marker))
        with pytest.raises(ServiceFailed, match=rf"api cannot start: {url} is already in use"):
            supervisor.start(essential)
    finally:
        squatter.close()
    assert starts(marker) == 0  # neither was started on the taken port
