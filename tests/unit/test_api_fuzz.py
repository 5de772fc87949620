"""Schemathesis over the backend's own OpenAPI schema: no generated request may get a 5xx.

The real app runs in-process (schemathesis' ASGI client starts its lifespan once) in single-user
mode on a real SQLite database, real files and the bundled embedder. No model server runs and web
search goes to a closed local proxy, so chat, model and search endpoints are reached as far as
they go without them: the only 5xx allowed is the 503 each documents for a service that is not
running, and its message must say which. Examples per operation are bounded to keep this fast.

Not fuzzed: ``POST /mcp/connections`` (a stdio connection runs the command it is given; the MCP
tests cover it with real servers).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, settings

from configs import Settings
from server.api.app import create_app
from server.launcher.harness import free_port

EXAMPLES = 4
MAX_ITEMS = 8
LOOPBACK = {"Host": "127.0.0.1"}  # single-user mode answers loopback hosts only
# what a 503 may say: a service this in-process backend does not have
NOT_RUNNING = ("unavailable", "not running", "startup.py", "unreachable", "no model", "search")


def _app() -> Any:
    """The backend with its own folders; its lifespan starts at the first generated request."""
    root = Path(tempfile.mkdtemp(prefix="chatchat-fuzz-"))
    closed = free_port()  # nothing listens: every outgoing web-search call fails at once
    return create_app(
        Settings(
            openai_api={"port": free_port()},
            data_dir=root / "data",
            log_dir=root / "logs",
            kb={"samples_kb": None},
            auth={"enabled": False},  # single-user mode: this is about input, not access
            search={"proxy": f"http://127.0.0.1:{closed}"},
        )
    )


def _schema() -> Any:
    app = _app()
    loaded = schemathesis.openapi.from_dict(app.openapi())  # no request, no start-up yet
    loaded.app = app  # requests go to the app in-process
    return loaded.exclude(path="/mcp/connections", method="POST")


schema = _schema()


def _small(case: schemathesis.Case) -> None:
    """Bounded work per example: a few tokens, a few texts (out-of-range values are still sent as is)."""
    body = case.body
    if isinstance(body, dict):
        tokens = body.get("max_tokens")
        if isinstance(tokens, int) and 8 < tokens <= 4096:
            body["max_tokens"] = 8
        for key, value in body.items():
            if isinstance(value, list) and len(value) > MAX_ITEMS:
                body[key] = value[:MAX_ITEMS]  # 2,048 texts to embed are allowed, and slow, not wrong


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # report the failing example as generated, unshrunk
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case) -> None:
    _small(case)
    response = case.call(headers=LOOPBACK, timeout=60)
    status = response.status_code
    if status == 503:
        documented = case.operation.definition.raw.get("responses", {})
        text = response.text.lower()
        assert "503" in documented, f"{case.method} {case.path}: undocumented 503: {response.text[:300]}"
        assert any(word in text for word in NOT_RUNNING), f"503 without a reason: {response.text[:300]}"
        return
    assert status < 500, (
        f"{case.method} {case.formatted_path} -> {status}: {response.text[:500]}\n"
        f"body={str(case.body)[:500]} query={case.query}"
    )


def test_the_fuzzed_operations_include_the_main_doors() -> None:
    """The run covers what users call most (a schema that lost them would fuzz nothing there)."""
    fuzzed = {result.ok().path for result in schema.get_all_operations()}
    assert {"/chat/chat", "/knowledge_base/search_docs", "/knowledge_base/upload_docs"} <= fuzzed
    assert "/mcp/connections" in fuzzed  # its GET still is; only POST is left out


def test_every_integer_in_a_path_fits_a_database_key() -> None:
    """An id past 2**63-1 must be a 422, not an overflow in the database driver (a 500)."""
    unbounded = [
        f"{method.upper()} {path} {param['name']}"
        for path, item in schema.raw_schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
        for param in operation.get("parameters", [])
        if param.get("in") == "path"
        and param.get("schema", {}).get("type") == "integer"
        and param["schema"].get("maximum", float("inf")) > 2**63 - 1
    ]
    assert not unbounded, unbounded
    integer_paths = [p for p in schema.raw_schema["paths"] if "{user_id}" in p or "{key_id}" in p]
    assert integer_paths  # the check saw the id paths it is about
