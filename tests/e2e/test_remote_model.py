"""A remote OpenAI-compatible model (here: a second, real instance of our own stack) used like a local one."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from server.launcher.harness import running_stack
from tests.e2e.conftest import sse_events

pytestmark = pytest.mark.slow

SECRET = "sk-remote-secret-0123456789"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_remote_model_round_trip(tmp_path: Path) -> None:
    with running_stack(tmp_path / "remote", ("--llm-api",)) as remote:
        env = {
            "CHATCHAT_LLM_MODELS__FARAWAY__ENGINE": "openai",
            "CHATCHAT_LLM_MODELS__FARAWAY__API_BASE_URL": f"{remote.urls.openai_api}/v1",
            "CHATCHAT_LLM_MODELS__FARAWAY__API_KEY": SECRET,
            "CHATCHAT_LLM_MODELS__FARAWAY__REMOTE_MODEL_NAME": "smollm2",
        }
        with running_stack(tmp_path / "local", ("--all-api", "--lite"), env=env) as local:
            models = OpenAI(base_url=f"{local.urls.openai_api}/v1", api_key="x").models.list()
            assert [m.id for m in models.data] == ["faraway"]  # --lite: no local model

            history = [
                {"role": "user", "content": "My cat is called Tom."},
                {"role": "assistant", "content": "Tom is a nice name."},
            ]
            body = {
                "query": "What is my cat called?",
                "history": history,
                "model_name": "faraway",
                "temperature": 0,
                "max_tokens": 24,
            }
            streamed = httpx.post(f"{local.urls.api}/chat/chat", json={**body, "stream": True}, timeout=60)
            via_local = "".join(e["text"] for e in sse_events(streamed.text.splitlines()))

            direct = (
                OpenAI(base_url=f"{remote.urls.openai_api}/v1", api_key="x")
                .chat.completions.create(
                    model="smollm2",
                    temperature=0,
                    max_tokens=24,
                    messages=[*history, {"role": "user", "content": "What is my cat called?"}],
                )
                .choices[0]
                .message.content
            )
            assert via_local == direct and via_local.strip()

            # Tools go to the endpoint as they are (native passthrough) and its calls come back.
            tools_request = {
                "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
                "temperature": 0,
                "max_tokens": 64,
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            }
            via_local_call = (
                OpenAI(base_url=f"{local.urls.openai_api}/v1", api_key="x")
                .chat.completions.create(model="faraway", **tools_request)
                .choices[0]
            )
            direct_call = (
                OpenAI(base_url=f"{remote.urls.openai_api}/v1", api_key="x")
                .chat.completions.create(model="smollm2", **tools_request)
                .choices[0]
            )
            assert via_local_call.finish_reason == direct_call.finish_reason == "tool_calls"
            assert [(c.function.name, c.function.arguments) for c in via_local_call.message.tool_calls] == [
                (c.function.name, c.function.arguments) for c in direct_call.message.tool_calls
            ]
            assert "native" in (local.log_dir / "openai_api.log").read_text()

            running = httpx.post(f"{local.urls.api}/llm_model/list_running_models", timeout=10).json()["data"]
            assert running["faraway"]["engine"] == "openai" and "api_key" not in running["faraway"]
            configs = httpx.post(f"{local.urls.api}/server/configs", timeout=10).text
            config = httpx.post(
                f"{local.urls.api}/llm_model/get_model_config", json={"model_name": "faraway"}, timeout=10
            ).text
        for text in [
            configs,
            config,
            local.read_output(),
            *(p.read_text() for p in local.log_dir.glob("*.log")),
        ]:
            assert SECRET not in text


def test_an_unreachable_remote_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    from server.launcher.harness import free_port

    env = {
        "CHATCHAT_LLM_MODELS__GONE__ENGINE": "openai",
        "CHATCHAT_LLM_MODELS__GONE__API_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
    }
    with running_stack(tmp_path, ("--all-api", "--lite"), env=env) as stack:
        response = httpx.post(
            f"{stack.urls.api}/chat/chat",
            timeout=60,
            json={"query": "hi", "model_name": "gone", "stream": True},
        )
        events = sse_events(response.text.splitlines())
    assert response.status_code in (200, 503)
    message = response.json()["msg"] if response.status_code == 503 else events[-1]["msg"]
    assert "remote endpoint" in message and "Connection" in message
