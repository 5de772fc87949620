"""The launcher's promises: start order, clean stops, services that heal, multi-host workers."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from streamlit.testing.v1 import AppTest

from configs import PROJECT_ROOT
from server.launcher.harness import STARTUP, running_stack, stack_env, start_stack

pytestmark = pytest.mark.slow


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def assert_all_gone(processes: list[psutil.Process]) -> None:
    gone, alive = psutil.wait_procs(processes, timeout=5)
    assert not alive, f"left running: {[p.pid for p in alive]}"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_services_start_in_order_and_a_signal_stops_every_process_within_ten_seconds(
    tmp_path: Path, sig: signal.Signals
) -> None:
    stack = start_stack(tmp_path, ("--all",))
    children = descendants(stack.process.pid)
    assert len(children) >= 5
    # every service inherits the launcher's short OpenMP spin (server/launcher/thread_env.py)
    spins = {child.environ().get("GOMP_SPINCOUNT") for child in children}
    started = time.monotonic()
    code = stack.stop(sig)
    assert time.monotonic() - started < 10
    assert code == 0
    assert_all_gone(children)
    assert spins == {"1000"}

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


def test_a_service_that_dies_is_restarted_with_its_exit_code_and_log_in_the_report(tmp_path: Path) -> None:
    with running_stack(tmp_path, ("--llm-api",)) as stack:
        api_server = psutil.Process(_pid_of(stack.log_dir / "startup.log", "openai_api"))
        api_server.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 120
        log = stack.log_dir / "startup.log"
        while "openai_api serves again" not in log.read_text():
            assert stack.process.poll() is None, "the launcher gave up on everything"
            assert time.monotonic() < deadline, "the API server was not restarted"
            time.sleep(0.2)
        text = log.read_text()
        assert "openai_api exited with code -9; restarting it in 1s (restart 1)" in text
        assert f"End of its log {stack.log_dir / 'openai_api.log'}" in text
        report = text.split("restarting it in 1s", 1)[1]
        assert "Uvicorn running on" in report  # the dead process's last log lines
        models = httpx.get(f"{stack.urls.openai_api}/v1/models", timeout=30).json()["data"]
        assert [m["id"] for m in models] == ["smollm2"]
        assert _pid_of(log, "openai_api") != api_server.pid


def test_a_model_that_crashes_at_start_is_given_up_on_while_the_others_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"CHATCHAT_LLM_MODELS__BROKEN__PATH": str(tmp_path / "no.gguf")}
    with running_stack(tmp_path / "stack", ("--all-api", "-n", "smollm2", "-n", "broken"), env=env) as stack:
        text = (stack.log_dir / "startup.log").read_text()
        assert text.count("starting model_worker-broken (pid") == 5
        delays = re.findall(r"model_worker-broken exited with code 1; restarting it in (\d+)s", text)
        assert delays == ["1", "2", "4", "8"]
        assert "died within 10s of starting 5 times in a row: giving up on it" in stack.read_output()
        assert "does not exist" in (stack.log_dir / "model_worker-broken.log").read_text()
        assert "does not exist" in text  # the end of its log is in the launcher's report
        answer = httpx.post(
            f"{stack.urls.api}/chat/chat", json={"query": "hi", "max_tokens": 4, "stream": False}, timeout=120
        )
        assert answer.status_code == 200 and "text" in answer.text
        models = httpx.post(f"{stack.urls.api}/llm_model/list_running_models", timeout=30).json()["data"]
        assert models["smollm2"]["status"] == "running" and models["broken"]["status"] == "failed"
        assert stack.process.poll() is None

        # The web UI's Models page says so, and the chat page offers only the model that answers.
        monkeypatch.setattr(sys, "argv", ["app.py", "--api-url", stack.urls.api])
        app = AppTest.from_file(str(PROJECT_ROOT / "webui" / "app.py"), default_timeout=180).run()
        assert not app.exception
        assert app.sidebar.selectbox(key="model_pick").options[0] == "smollm2"
        app.switch_page("views/models.py").run()
        assert not app.exception
        rows = app.dataframe[0].value
        assert dict(zip(rows["model"], rows["status"], strict=True)) == {
            "smollm2": "running",
            "broken": "failed",
        }
        assert any("broken: its worker kept dying at start" in w.value for w in app.warning)
        assert any("does not exist" in c.value for c in app.code)  # the end of its worker's log

        # Starting it again from the page: it fails at once, and the page says why.
        app.selectbox(key="models_start_pick").set_value("broken").run()
        app.button(key="models_start").click().run()
        assert not app.exception
        assert any("broken could not be started" in e.value for e in app.error)
        assert any("does not exist" in c.value for c in app.code)

        # With nothing serving, the Dialogue page offers to start a model, and then chats with it.
        app.selectbox(key="models_stop_pick").set_value("smollm2").run()
        app.checkbox(key="models_stop_confirm").check().run()
        app.button(key="models_stop").click().run()
        assert not app.exception
        app.switch_page("views/dialogue.py").run()
        assert any("No model is running" in w.value for w in app.sidebar.warning)
        assert app.chat_input[0].proto.disabled
        app.sidebar.selectbox(key="model_start_pick").set_value("smollm2").run()
        app.sidebar.button(key="model_start").click().run()
        assert not app.exception and not app.error
        assert app.sidebar.selectbox(key="model_pick").value == "smollm2"
        assert not app.chat_input[0].proto.disabled


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
    """The pid of the service's latest start."""
    starts = [line for line in log.read_text().splitlines() if f"starting {service} (pid " in line]
    if not starts:
        raise AssertionError(f"{service} not started")
    return int(starts[-1].rsplit("pid ", 1)[1].rstrip(")"))
    for line in log.read_text().splitlines():
        if f"starting {service} (pid " in line:
            return int(line.rsplit("pid ", 1)[1].rstrip(")"))
    raise AssertionError(f"{service} not started")


def test_a_worker_without_the_hubs_cluster_secret_is_refused_with_the_reason(tmp_path: Path) -> None:
    with running_stack(tmp_path / "a", ("--openai-api",)) as hub:
        with pytest.raises(
            RuntimeError, match="nothing could be started: model_worker-smollm2 exited with code 78"
        ):
            start_stack(tmp_path / "b", ("--model-worker", "--controller", hub.urls.controller))
        log = (tmp_path / "b" / "logs" / "model_worker-smollm2.log").read_text()
        assert "refused this worker's cluster secret" in log and "auth.cluster_secret" in log
        launcher_log = (tmp_path / "b" / "logs" / "startup.log").read_text()
        assert "its configuration was refused" in launcher_log
        assert "restarting it" not in launcher_log  # a wrong secret is not retried
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
