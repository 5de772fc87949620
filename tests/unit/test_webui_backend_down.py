"""When the backend is down or hangs, the web UI says so and offers a retry instead of a traceback."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from server.launcher.harness import free_port
from webui.api_client import ApiClient, BackendUnreachable

APP = str(Path(__file__).resolve().parents[2] / "webui" / "app.py")


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A real TCP server on loopback that accepts connections and never answers: a hung backend."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_a_stopped_backend_is_reported_as_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnreachable, match="is not reachable"):
        ApiClient(url).health()


def test_a_hung_backend_is_reported_as_timed_out(silent_server: str) -> None:
    client = ApiClient(silent_server, timeout=0.5, stream_timeout=0.5)
    with pytest.raises(BackendUnreachable, match="timed out"):
        client.paths()
    with pytest.raises(BackendUnreachable, match="timed out"):
        list(client.stream_events("/chat/chat", {"query": "hi"}))


def test_the_app_shows_a_banner_and_a_retry_button_when_the_backend_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(sys, "argv", ["app.py", "--api-url", url])
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "Chatchat"
    assert len(at.error) == 1 and url in at.error[0].value and "not reachable" in at.error[0].value
    assert [b.label for b in at.button] == ["Retry"]
    at.button[0].click().run()  # still down: the same banner again, still no traceback
    assert not at.exception
    assert "not reachable" in at.error[0].value
