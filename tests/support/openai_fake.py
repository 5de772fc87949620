"""An OpenAI-compatible embeddings endpoint on 127.0.0.1, speaking the real wire format.

``POST /v1/embeddings`` answers ``{"object": "list", "data": [{"embedding", "index"}], ...}`` for
the model ``text-embedding-fake``, each vector derived from its text, in shuffled order (the client
must sort by ``index``). Other model names act out the failures of a real service:

- ``flaky``: HTTP 500 on its first, third, ... request (a retry succeeds);
- ``down``: HTTP 503 on every request;
- ``locked``: HTTP 401 with OpenAI's error body;
- ``short``: one embedding fewer than the texts sent;
- ``slow``: answers after ``slow_s`` seconds.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DIM = 8


def fake_vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [b / 255 - 0.5 for b in digest[:DIM]]


@dataclass
class FakeOpenAI:
    url: str
    slow_s: float = 3.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)


@contextmanager
def fake_openai() -> Iterator[FakeOpenAI]:
    state: dict[str, Any] = {"fake": None}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            fake: FakeOpenAI = state["fake"]
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
            with lock:
                fake.requests.append(body)
                fake.authorizations.append(self.headers.get("authorization", ""))
                count = sum(1 for sent in fake.requests if sent.get("model") == body.get("model"))
            if self.path != "/v1/embeddings":
                self._send(
                    404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}}
                )
                return
            model, texts = body.get("model"), body.get("input") or []
            if model == "flaky" and count % 2 == 1:
                self._send(500, {"error": {"message": "the server had an error", "type": "server_error"}})
                return
            if model == "down":
                self._send(503, {"error": {"message": "the engine is overloaded", "type": "server_error"}})
                return
            if model == "locked":
                error = {"message": "Incorrect API key provided: sk-wr***", "type": "invalid_request_error"}
                self._send(401, {"error": {**error, "code": "invalid_api_key"}})
                return
            if model == "slow":
                time.sleep(fake.slow_s)
            items = [
                {"object": "embedding", "embedding": fake_vector(str(text)), "index": index}
                for index, text in enumerate(texts)
            ]
            if model == "short":
                items = items[:-1]
            items.reverse()
            usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
            self._send(200, {"object": "list", "data": items, "model": model, "usage": usage})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["fake"] = FakeOpenAI(f"http://127.0.0.1:{server.server_address[1]}/v1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["fake"]
    finally:
        server.shutdown()
        server.server_close()
