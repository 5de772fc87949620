"""MCP servers as agent tools: a real MCP server (the official SDK's) started over stdio and over
streamable HTTP on 127.0.0.1; tools named server__tool with their schemas; slow, failing, dead
and flooding servers never break a run; secrets never leave the backend."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path

import psutil
import pytest
from pydantic import ValidationError

from configs.settings import AgentSettings, McpServerSettings, Settings
from server.agent.mcp.connection import MASK, ServerSpec
from server.agent.mcp.registry import Caller, McpRegistry, allowed
from server.agent.mcp.store import McpStore
from server.agent.toolbox import build_toolbox, run_tool
from server.agent.tools.base import ToolError
from server.api.errors import Conflict, Forbidden
from server.api.schemas.mcp import McpConnectionIn
from server.api.services.mcp_service import McpService
from server.db.engine import create_engine, session_factory
from server.db.migrate import upgrade
from tests.support.mcp_servers import closed_port_url, http_server, stdio_entry

SECRET = "s3cr3t-token-7f1d2c"


def registry(*entries: dict, log_dir: Path | None = None, max_chars: int = 2000) -> McpRegistry:
    return McpRegistry([McpServerSettings.model_validate(e) for e in entries], log_dir, max_chars)


def test_a_stdio_server_s_tools_join_the_toolbox_with_their_schemas_and_run() -> None:
    async def scenario() -> None:
        mcp = registry(stdio_entry("calc", timeout=20))
        await mcp.start([])
        try:
            tools = await mcp.tools(None)
            assert [t.name for t in tools] == ["calc__add", "calc__slow", "calc__fail", "calc__flood"]
            assert {t.source for t in tools} == {"calc"}
            toolbox = build_toolbox(AgentSettings(), None, None, tools)
            assert toolbox.names[:3] == ["calculator", "current_datetime", "unit_conversion"]
            add = next(f["function"] for f in toolbox.functions() if f["function"]["name"] == "calc__add")
            assert add["description"] == "Add two whole numbers and say the sum."
            assert add["parameters"]["required"] == ["a", "b"]
            assert add["parameters"]["properties"]["a"]["type"] == "integer"
            assert (
                "calc__add: Add two whole numbers and say the sum. Input: a JSON object with"
                in toolbox.describe()
            )
            tool = toolbox.find("calc__add")
            assert tool is not None
            output, ok = await run_tool(tool, tool.from_json('{"a": 17, "b": 25}'), 2000)
            assert (output, ok) == ("The sum of 17 and 25 is 42.", True)
            # ReAct writes the input as it likes: a JSON object, or a fenced one.
            assert tool.from_text('{"a": 1, "b": 2}') == {"a": 1, "b": 2}
            assert tool.from_text('```json\n{"a": 1, "b": 2}\n```') == {"a": 1, "b": 2}
            with pytest.raises(ToolError, match='give the input as a JSON object with "a", "b"'):
                tool.from_text("1 and 2")
            slow = toolbox.find("calc__slow")
            assert slow is not None and slow.from_text("0.1") == {"seconds": 0.1}  # one number argument
        finally:
            await mcp.stop()

    asyncio.run(scenario())


def test_slow_failing_and_flooding_tools_become_observations_and_the_server_stays_usable() -> None:
    async def scenario() -> None:
        mcp = registry(stdio_entry("t", timeout=1.5), max_chars=500)
        await mcp.start([])
        try:
            tools = {t.name: t for t in await mcp.tools(None)}
            started = time.monotonic()
            output, ok = await run_tool(tools["t__slow"], {"seconds": 30}, 500)
            assert not ok and output == "Error: the MCP server t did not answer within 1.5 s"
            assert time.monotonic() - started < 5
            output, ok = await run_tool(tools["t__fail"], {"reason": "today"}, 500)
            assert not ok and output.startswith("Error: ") and "this tool fails today" in output
            output, ok = await run_tool(tools["t__flood"], {"size": 100_000}, 500)
            assert ok and output == "x" * 500 + " …(cut)"
            output, ok = await run_tool(tools["t__add"], {"a": 2, "b": 2}, 500)
            assert (output, ok) == ("The sum of 2 and 2 is 4.", True)  # still connected after all that
        finally:
            await mcp.stop()

    asyncio.run(scenario())


def test_a_streamable_http_server_is_reached_with_its_headers_and_a_wrong_token_is_refused() -> None:
    async def scenario(url: str) -> None:
        mcp = registry(
            {
                "name": "web",
                "transport": "streamable-http",
                "url": url,
                "headers": {"Authorization": f"Bearer {SECRET}"},
            },
            {
                "name": "badkey",
                "transport": "streamable-http",
                "url": url,
                "headers": {"Authorization": "Bearer nope"},
            },
        )
        await mcp.start([])
        try:
            tools = {t.name: t for t in await mcp.tools(None)}
            assert set(tools) == {"web__add", "web__slow", "web__fail", "web__flood"}
            output, ok = await run_tool(tools["web__add"], {"a": 40, "b": 2}, 2000)
            assert (output, ok) == ("The sum of 40 and 2 is 42.", True)
            bad = mcp.connection("badkey")
            assert bad is not None and bad.state == "failed" and bad.error
        finally:
            await mcp.stop()

    with http_server(token=SECRET) as url:
        asyncio.run(scenario(url))


def test_a_legacy_sse_server_works_too() -> None:
    async def scenario(url: str) -> None:
        mcp = registry({"name": "old", "transport": "sse", "url": url})
        await mcp.start([])
        try:
            [add] = [t for t in await mcp.tools(None) if t.name == "old__add"]
            assert await add.invoke({"a": 1, "b": 1}) == "The sum of 1 and 1 is 2."
        finally:
            await mcp.stop()

    with http_server(sse=True) as url:
        asyncio.run(scenario(url))


def test_dead_servers_are_skipped_quickly_and_say_why(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        mcp = registry(
            {"name": "down", "transport": "streamable-http", "url": closed_port_url(), "timeout": 5},
            {"name": "gone", "transport": "stdio", "command": "/nonexistent/mcp-server"},
            stdio_entry("crash", args=["-c", "raise SystemExit(3)"]),
        )
        await mcp.start([])
        try:
            assert await mcp.tools(None) == []
            for name in ("down", "gone", "crash"):
                connection = mcp.connection(name)
                assert connection is not None and connection.state == "failed" and connection.error, name
            started = time.monotonic()
            assert await mcp.tools(None) == []  # not retried on every request
            assert time.monotonic() - started < 0.5
        finally:
            await mcp.stop()

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    assert "MCP server down unavailable" in caplog.text


def test_a_stdio_server_process_belongs_to_the_backend_and_stops_with_it() -> None:
    async def scenario() -> None:
        mcp = registry(stdio_entry("child"))
        await mcp.start([])
        assert await mcp.tools(None)
        children = [
            p for p in psutil.Process().children(recursive=True) if "mcp_server.py" in " ".join(p.cmdline())
        ]
        assert len(children) == 1
        await mcp.stop()
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == []

    asyncio.run(scenario())


def test_secrets_never_reach_errors_listings_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret_url = f"http://user:{SECRET}@127.0.0.1:1/mcp"

    async def scenario() -> list:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'info.db'}")
        await upgrade(engine)
        mcp = registry(stdio_entry("configured", env={"API_KEY": SECRET}), log_dir=tmp_path / "logs")
        service = McpService(McpStore(session_factory(engine)), mcp)
        await mcp.start([])
        try:
            body = McpConnectionIn.model_validate(
                {
                    "name": "remote",
                    "transport": "streamable-http",
                    "url": secret_url,
                    "headers": {"X-Key": SECRET},
                }
            )
            created = await service.create(body, None)
            assert created.state == "failed" and created.error
            listed = service.list()
            # Updating with the mask sent back keeps the stored secret.
            again = McpConnectionIn.model_validate(
                {**body.model_dump(mode="json"), "headers": {"X-Key": MASK}}
            )
            await service.update("remote", again)
            stored = await McpStore(session_factory(engine)).get("remote")
            assert stored is not None and dict(stored.headers) == {"X-Key": SECRET}
            return [c.model_dump_json() for c in listed]
        finally:
            await mcp.stop()
            await engine.dispose()

    with caplog.at_level(logging.DEBUG, logger="server"):
        listed = asyncio.run(scenario())
    configured, remote = (json.loads(c) for c in listed)
    assert configured["env"] == {"API_KEY": MASK} and configured["read_only"]
    assert remote["headers"] == {"X-Key": MASK} and remote["url"] == "http://127.0.0.1:1/mcp"
    everything = "\n".join(listed) + caplog.text
    everything += "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    assert SECRET not in everything


def test_configured_connections_are_read_only_and_names_are_unique(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'info.db'}")
        await upgrade(engine)
        mcp = registry(
            {"name": "fixed", "transport": "streamable-http", "url": closed_port_url(), "enabled": False}
        )
        service = McpService(McpStore(session_factory(engine)), mcp)
        await mcp.start([])
        body = McpConnectionIn.model_validate(
            {"name": "fixed", "transport": "sse", "url": "http://127.0.0.1:1/sse"}
        )
        with pytest.raises(Conflict, match="'fixed' already exists"):
            await service.create(body, None)
        with pytest.raises(Forbidden, match="defined in the settings file"):
            await service.delete("fixed")
        assert service.get("fixed").state == "disabled"
        await mcp.stop()
        await engine.dispose()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "a b", "command": "x"}, "should match pattern"),
        ({"name": "x"}, "transport stdio needs a command"),
        ({"name": "x", "transport": "streamable-http", "url": "file:///etc/passwd"}, "needs an http(s) url"),
        ({"name": "x", "transport": "websocket", "url": "http://h"}, "Input should be 'stdio'"),
        ({"name": "x", "command": "y", "timeout": 0}, "greater than 0"),
    ],
)
def test_bad_connections_are_refused_with_the_reason(entry: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        McpServerSettings.model_validate(entry)


def test_settings_take_servers_from_the_environment_as_json(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="distinct name"):
        Settings(mcp_servers=[{"name": "a", "command": "x"}, {"name": "a", "command": "y"}])
    clean_env.setenv("CHATCHAT_MCP_SERVERS", '[{"name": "files", "command": "mcp-files", "env": {"K": "v"}}]')
    settings = Settings()
    assert [s.name for s in settings.mcp_servers] == ["files"]
    assert settings.public_dump()["mcp_servers"][0]["env"] == {"K": "**********"}


@pytest.mark.parametrize(
    ("roles", "users", "caller", "expected"),
    [
        ((), (), None, True),  # single-user mode
        ((), (), Caller("ann", "user"), True),  # no limit: everyone
        (("admin",), (), Caller("ann", "user"), False),
        (("user",), (), Caller("ann", "user"), True),
        ((), ("bob",), Caller("ann", "user"), False),
        ((), ("ann",), Caller("ann", "user"), True),
        (("nobody",), (), Caller("root", "admin"), True),  # admins see every server
        (("user",), (), Caller("pat", "pending"), False),
    ],
)
def test_who_may_use_a_connection(roles: tuple, users: tuple, caller: Caller | None, expected: bool) -> None:
    spec = ServerSpec(name="s", transport="stdio", command="x", allowed_roles=roles, allowed_users=users)
    assert allowed(spec, caller) is expected
