"""The launcher's promises: start order, clean stops, failures reported, multi-host workers."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from server.launcher.harness import STARTUP, running_stack, stack_env, start_stack

pytestmark = pytest.mark.slow


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def assert_all_gone(processes: list[psutil.Process]) -> None:
    gone, alive = psutil.wait_procs(processes, timeout=5)
    assert not alive, f"left running: {[p.pid for p in alive]}"


def test_services_start_in_order_each_after_the_one_before_is_ready(tmp_path: Path) -> None:
    with running_stack(tmp_path, ("--all",)) as stack:
        log = (stack.log_dir / "startup.log").read_text().splitlines()
    events = [
        line.split(" | ")[-1]
        for line in log
        if " ready at " in line or line.endswith(")") and "starting" in line
    ]
    order = ["controller", "model_worker-smollm2", "openai_api", "api", "webui"]
    expected = [step for name in order for step in (f"starting {name}", f"{name} ready")]
    seen = [next(e for e in expected if ev.startswith(e)) for ev in events]
    assert seen == expected


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_every_process_within_ten_seconds(tmp_path: Path, sig: signal.Signals) -> None:
    stack = start_stack(tmp_path, ("--all",))
    children = descendants(stack.process.pid)
    assert len(children) >= 5
    started = time.monotonic()
    code = stack.stop(sig)
    assert time.monotonic() - started < 10
    assert code == 0
    assert_all_gone(children)


def test_a_service_that_dies_is_reported_and_the_launcher_exits_non_zero(tmp_path: Path) -> None:
    stack = start_stack(tmp_path, ("--llm-api",))
    children = descendants(stack.process.pid)
    worker = next(
        p for p in children if p.pid == _pid_of(stack.log_dir / "startup.log", "model_worker-smollm2")
    )
    worker.send_signal(signal.SIGKILL)
    assert stack.process.wait(15) == 1
    output = stack.read_output()
    assert "model_worker-smollm2 exited unexpectedly" in output
    assert str(stack.log_dir / "model_worker-smollm2.log") in output
    assert_all_gone(children)


def test_a_service_that_fails_to_start_is_reported(tmp_path: Path) -> None:
    with pytest.raises(
        RuntimeError, match=r"model_worker-smollm2 exited with code 1 while starting.*model_worker"
    ):
        start_stack(
            tmp_path, ("--llm-api",), env={"CHATCHAT_LLM_MODELS__SMOLLM2__PATH": str(tmp_path / "no.gguf")}
        )
    log = (tmp_path / "logs" / "model_worker-smollm2.log").read_text()
    assert "does not exist" in log


def test_workers_register_with_a_controller_given_by_address(tmp_path: Path) -> None:
    with running_stack(tmp_path / "a", ("--openai-api",)) as hub:
        node_env = {"CHATCHAT_AUTH__CLUSTER_SECRET": hub.cluster_secret}  # the hub's, as the README says
        with running_stack(
            tmp_path / "b", ("--model-worker", "--controller", hub.urls.controller), env=node_env
        ) as node:
            models = httpx.get(f"{hub.urls.openai_api}/v1/models", timeout=10).json()["data"]
            assert [m["id"] for m in models] == ["smollm2"]
            assert not (node.log_dir / "controller.log").exists()


def _pid_of(log: Path, service: str) -> int:
    for line in log.read_text().splitlines():
        if f"starting {service} (pid " in line:
            return int(line.rsplit("pid ", 1)[1].rstrip(")"))
    raise AssertionError(f"{service} not started")


def test_a_worker_without_the_hubs_cluster_secret_is_refused_with_the_reason(tmp_path: Path) -> None:
    with running_stack(tmp_path / "a", ("--openai-api",)) as hub:
        with pytest.raises(RuntimeError, match="model_worker-smollm2 exited with code 1 while starting"):
            start_stack(tmp_path / "b", ("--model-worker", "--controller", hub.urls.controller))
        log = (tmp_path / "b" / "logs" / "model_worker-smollm2.log").read_text()
        assert "refused this worker's cluster secret" in log and "auth.cluster_secret" in log
        assert httpx.get(f"{hub.urls.openai_api}/v1/models", timeout=10).json()["data"] == []


def test_a_service_on_a_non_loopback_address_is_named_and_single_user_mode_refuses_it(tmp_path: Path) -> None:
    exposed = {"CHATCHAT_AUTH__ENABLED": "true", "CHATCHAT_API__HOST": "0.0.0.0"}
    with running_stack(tmp_path / "a", ("--api",), env=exposed) as stack:
        assert "warning: api binds 0.0.0.0: it is reachable from other machines" in stack.read_output()
    refused = subprocess.run(
        [sys.executable, str(STARTUP), "--api"],
        env={**stack_env(tmp_path / "b", {"CHATCHAT_API__HOST": "0.0.0.0"})[0]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "single-user mode" in refused.stderr and "api binds 0.0.0.0" in refused.stderr
