"""An admin connects MCP tool servers and the agent uses their tools, on the real stack and model.

The MCP servers are real (``tests/mcp_server.py`` on the official SDK): one from the settings
over stdio, one an admin adds over streamable HTTP with a secret bearer token, one that is down.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from server.launcher.harness import RunningStack, running_stack
from server.llm.tool_formats import MARKUP
from tests.e2e.conftest import sse_events
from tests.support.mcp_servers import closed_port_url, http_server, stdio_entry

pytestmark = pytest.mark.slow

TOKEN = "tok-e2e-9b3c51aa7d"
RUNS = 20


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    with http_server(token=TOKEN) as url:
        yield url


@pytest.fixture(scope="module")
def mcp_stack(tmp_path_factory: pytest.TempPathFactory, mcp_url: str) -> Iterator[RunningStack]:
    env = {
        "CHATCHAT_LOG_LEVEL": "DEBUG",  # secrets must stay out of even the most talkative logs
        "CHATCHAT_MCP_SERVERS": json.dumps([stdio_entry("local", env={"LOCAL_KEY": TOKEN})]),
        "CHATCHAT_AGENT__MAX_STEPS": "2",
        "CHATCHAT_AGENT__STEP_MAX_TOKENS": "96",
        "CHATCHAT_AGENT__TIME_LIMIT": "300",
        "CHATCHAT_SEARCH__DUCKDUCKGO__ENABLED": "false",
    }
    with running_stack(tmp_path_factory.mktemp("mcp"), ("--all-api",), env) as stack:
        added = httpx.post(
            f"{stack.urls.api}/mcp/connections",
            json={
                "name": "web",
                "transport": "streamable-http",
                "url": mcp_url,
                "headers": {"Authorization": f"Bearer {TOKEN}"},
                "timeout": 5,
            },
            timeout=90,
        )
        assert added.status_code == 200, added.text
        dead = httpx.post(
            f"{stack.urls.api}/mcp/connections",
            json={"name": "dead", "transport": "streamable-http", "url": closed_port_url()},
            timeout=90,
        )
        assert dead.status_code == 200, dead.text
        # The agent's tool list waits for the servers still connecting (the one from settings starts
        # with the backend, in the background).
        assert httpx.get(f"{stack.urls.api}/agent/tools", timeout=90).status_code == 200
        yield stack


def agent(stack: RunningStack, **body: object) -> list[dict]:
    request = {"stream": True, "temperature": 0, **body}
    with httpx.stream("POST", f"{stack.urls.api}/chat/agent_chat", json=request, timeout=300) as response:
        assert response.status_code == 200, response.read()
        return sse_events(response.iter_lines())


def connections(stack: RunningStack) -> dict[str, dict]:
    response = httpx.get(f"{stack.urls.api}/mcp/connections", timeout=30)
    assert response.status_code == 200, response.text
    return {c["name"]: c for c in response.json()["data"]}


def test_connections_are_listed_with_state_tools_and_masked_secrets(
    mcp_stack: RunningStack, mcp_url: str
) -> None:
    listed = connections(mcp_stack)
    assert list(listed) == ["local", "web", "dead"]
    local, web, dead = listed["local"], listed["web"], listed["dead"]
    assert local["origin"] == "settings" and local["read_only"] and local["state"] == "ready"
    assert local["env"] == {"LOCAL_KEY": "********"}
    assert web["origin"] == "database" and not web["read_only"] and web["state"] == "ready"
    assert web["headers"] == {"Authorization": "********"} and web["url"] == mcp_url
    assert [t["name"] for t in web["tools"]] == ["web__add", "web__slow", "web__fail", "web__flood"]
    assert web["tools"][0]["parameters"]["required"] == ["a", "b"]
    assert dead["state"] == "failed" and "ConnectError" in dead["error"] and dead["tools"] == []
    refused = httpx.delete(f"{mcp_stack.urls.api}/mcp/connections/local", timeout=30)
    assert refused.status_code == 403 and "settings file" in refused.json()["msg"]


def test_the_tool_picker_lists_mcp_tools_with_their_source_and_leaves_the_dead_server_out(
    mcp_stack: RunningStack,
) -> None:
    response = httpx.get(f"{mcp_stack.urls.api}/agent/tools", timeout=60)
    tools = {t["name"]: t["source"] for t in response.json()["data"]}
    assert tools["calculator"] == "builtin"
    assert tools["local__add"] == "local" and tools["web__add"] == "web"
    assert not any(source == "dead" for source in tools.values())


@pytest.mark.parametrize("protocol", ["native", "react"])
def test_a_forced_mcp_tool_call_runs_and_its_result_reaches_the_final_answer(
    mcp_stack: RunningStack, protocol: str
) -> None:
    events = agent(
        mcp_stack, query="What is 17 plus 25?", tool_calling=protocol, tool_choice="web__add", max_tokens=48
    )
    step = next(e["step"] for e in events if "step" in e)
    assert step["tool"] == "web__add" and step["ok"], step
    arguments = json.loads(step["input"])
    assert set(arguments) == {"a", "b"} and all(isinstance(v, int) for v in arguments.values())
    result = f"The sum of {arguments['a']} and {arguments['b']} is {arguments['a'] + arguments['b']}."
    assert step["output"] == result
    final = events[-1]["final_answer"]
    assert str(arguments["a"] + arguments["b"]) in final, final
    assert not any(marker in final for marker in MARKUP)


def test_failing_and_slow_tools_and_a_dead_server_never_break_a_run(mcp_stack: RunningStack) -> None:
    events = agent(mcp_stack, query="Make the tool fail.", tool_calling="native", tool_choice="local__fail")
    step = next(e["step"] for e in events if "step" in e)
    assert step["tool"] == "local__fail" and not step["ok"] and "this tool fails" in step["output"]
    assert set(events[-1]) == {"final_answer"} and events[-1]["final_answer"].strip()
    unknown = httpx.post(
        f"{mcp_stack.urls.api}/chat/agent_chat", json={"query": "x", "tool_choice": "dead__add"}, timeout=60
    )
    assert unknown.status_code == 400 and "'dead__add' is not an available tool" in unknown.json()["msg"]
    bad_pick = httpx.post(
        f"{mcp_stack.urls.api}/chat/agent_chat", json={"query": "x", "tools": ["nope"]}, timeout=60
    )
    assert bad_pick.status_code == 400 and "unknown tools: 'nope'" in bad_pick.json()["msg"]


def test_forced_calls_always_parse_or_end_with_a_clear_error(mcp_stack: RunningStack) -> None:
    """The bundled 135M model sampling 20 times: a call that fits the schema or a clear error, never text."""
    tools = httpx.get(f"{mcp_stack.urls.api}/agent/tools", timeout=60).json()["data"]
    add = next(t for t in tools if t["name"] == "web__add")
    request = {
        "model": "smollm2",
        "tools": [
            {"type": "function", "function": {k: add[k] for k in ("name", "description", "parameters")}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "web__add"}},
        "temperature": 1.0,
        "max_tokens": 64,
    }
    parsed, errors = 0, []
    for run in range(RUNS):
        body = {**request, "messages": [{"role": "user", "content": f"Add {run} and {run * 7}."}]}
        response = httpx.post(f"{mcp_stack.urls.openai_api}/v1/chat/completions", json=body, timeout=120)
        answer = response.json()
        if response.status_code != 200:
            errors.append(answer["message"])
            continue
        message = answer["choices"][0]["message"]
        assert message["content"] is None, message  # never the call's JSON, never markup
        [call] = message["tool_calls"]
        arguments = json.loads(call["function"]["arguments"])
        assert call["function"]["name"] == "web__add" and set(arguments) == {"a", "b"}
        assert all(isinstance(v, int) for v in arguments.values())
        parsed += 1
    assert all(
        e.endswith("was cut off at the token limit (64 tokens) before it was complete; raise max_tokens")
        for e in errors
    ), errors
    assert parsed + len(errors) == RUNS and parsed >= RUNS // 2


def test_answers_after_a_tool_ran_never_carry_protocol_markup(mcp_stack: RunningStack) -> None:
    """Where the 135M model imitates its prompt (<tool_response>, <tool_call>): 20 sampled answers."""
    tools = httpx.get(f"{mcp_stack.urls.api}/agent/tools", timeout=60).json()["data"]
    add = next(t for t in tools if t["name"] == "web__add")
    offered = [{"type": "function", "function": {k: add[k] for k in ("name", "description", "parameters")}}]
    for run in range(RUNS):
        a, b = run + 3, run * 7
        call = {
            "id": "c1",
            "type": "function",
            "function": {"name": "web__add", "arguments": json.dumps({"a": a, "b": b})},
        }
        body = {
            "model": "smollm2",
            "messages": [
                {"role": "user", "content": f"What is {a} plus {b}?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": f"The sum of {a} and {b} is {a + b}."},
            ],
            "tools": offered,
            "temperature": 0.8,
            "max_tokens": 48,
        }
        response = httpx.post(f"{mcp_stack.urls.openai_api}/v1/chat/completions", json=body, timeout=120)
        assert response.status_code == 200, response.text
        message = response.json()["choices"][0]["message"]
        assert not any(marker in (message["content"] or "") for marker in MARKUP), (run, message)
    # And through the agent, where the same reply becomes the final answer.
    events = agent(
        mcp_stack, query="Calculate 12 * 7", tool_calling="native", tool_choice="calculator", temperature=0.8
    )
    shown = "".join(e.get("answer", "") for e in events) + events[-1]["final_answer"]
    assert not any(marker in shown for marker in MARKUP), shown


def test_secrets_never_appear_in_responses_or_logs(mcp_stack: RunningStack) -> None:
    bodies = [
        httpx.get(f"{mcp_stack.urls.api}/mcp/connections", timeout=30).text,
        httpx.get(f"{mcp_stack.urls.api}/agent/tools", timeout=60).text,
        httpx.post(f"{mcp_stack.urls.api}/server/configs", json={}, timeout=30).text,
        httpx.post(f"{mcp_stack.urls.api}/mcp/connections/web/reconnect", timeout=90).text,
    ]
    assert all(TOKEN not in body for body in bodies)
    logs = {path.name: path.read_text(errors="replace") for path in mcp_stack.log_dir.rglob("*.log*")}
    assert logs and not [name for name, text in logs.items() if TOKEN in text]


# ---- the web UI -------------------------------------------------------------------------------------

WEBUI = Path(__file__).resolve().parents[2] / "webui"


def test_the_mcp_page_shows_each_connection_its_state_and_tools_without_secrets(
    mcp_stack: RunningStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["app.py", "--api-url", mcp_stack.urls.api])
    page = AppTest.from_file(str(WEBUI / "views" / "mcp.py"), default_timeout=120).run()
    assert not page.exception
    labels = [e.label for e in page.expander]
    assert any("**local**" in label and "ready" in label and "read-only" in label for label in labels), labels
    assert any("**web**" in label and "streamable-http" in label and "ready" in label for label in labels), (
        labels
    )
    assert any("**dead**" in label and "failed" in label for label in labels), labels
    assert any("ConnectError" in error.value for error in page.error)
    assert any("runs its command on the server" in warning.value for warning in page.warning)
    shown = " ".join(
        str(element.value) for element in [*page.markdown, *page.caption, *page.code, *page.error]
    )
    assert "********" in shown and TOKEN not in shown


def test_the_agent_s_tool_picker_lists_mcp_tools_with_their_source(
    mcp_stack: RunningStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["app.py", "--api-url", mcp_stack.urls.api])
    app = AppTest.from_file(str(WEBUI / "app.py"), default_timeout=180).run()
    app.sidebar.selectbox(key="chat_mode").set_value("agent_chat").run()
    assert not app.exception
    picker = app.sidebar.multiselect(key="agent_tools_pick")
    assert "web__add (MCP: web)" in picker.options and "calculator (built-in)" in picker.options
    assert not any("dead__" in option for option in picker.options)
    assert "web__add" in picker.value  # every tool is offered until the user narrows it
    assert "web__add" in app.sidebar.selectbox(key="agent_tool_first").options
