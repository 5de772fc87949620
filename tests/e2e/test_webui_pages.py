"""The web UI's page logic against the real backend, run headless with Streamlit's AppTest."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from server.launcher.harness import RunningStack
from webui.api_client import CHAT_MODE_PATHS, ApiClient, BackendError

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[2] / "webui" / "app.py")


@pytest.fixture
def app(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app as the launcher starts it: ``webui/app.py -- --api-url <backend>``."""
    monkeypatch.setattr(sys, "argv", ["app.py", "--api-url", stack.urls.api])
    return AppTest.from_file(APP, default_timeout=180)


def backend_paths(stack: RunningStack) -> set[str]:
    return set(httpx.get(f"{stack.urls.api}/openapi.json", timeout=10).json()["paths"])


def test_the_dialogue_page_opens_with_a_title_and_sensible_defaults(app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert app.title[0].value == "Dialogue"
    assert "LLM chat" in app.caption[0].value
    assert app.sidebar.selectbox(key="chat_mode").value == "llm_chat"
    assert app.sidebar.slider(key="temperature").value == pytest.approx(0.7)
    assert app.sidebar.number_input(key="history_turns").value == 3
    assert app.sidebar.selectbox(key="prompt_llm_chat").value == "default"
    assert len(app.chat_input) == 1


def test_only_chat_modes_the_backend_serves_are_offered(app: AppTest, stack: RunningStack) -> None:
    app.run()
    served = [mode for mode, path in CHAT_MODE_PATHS.items() if path in backend_paths(stack)]
    assert "llm_chat" in served
    assert app.sidebar.selectbox(key="chat_mode").options == [
        {"llm_chat": "LLM chat", "knowledge_base_chat": "Knowledge-base chat", "file_chat": "File chat",
         "search_engine_chat": "Search-engine chat", "agent_chat": "Agent chat"}[mode]
        for mode in served
    ]


def test_a_question_gets_an_answer_from_the_model_and_history_grows(app: AppTest) -> None:
    app.run()
    app.chat_input[0].set_value("What is the capital of France?").run()
    assert not app.exception and not app.error
    roles = [message.name for message in app.chat_message]
    assert roles == ["user", "assistant"]
    assert app.chat_message[0].markdown[0].value == "What is the capital of France?"
    answer = app.chat_message[1].markdown[0].value
    assert answer.strip()

    app.chat_input[0].set_value("And of Italy?").run()
    assert [message.name for message in app.chat_message] == ["user", "assistant"] * 2
    assert app.chat_message[1].markdown[0].value == answer  # the first answer is kept as it was


def test_a_backend_error_is_shown_with_the_backends_own_message(stack: RunningStack) -> None:
    client = ApiClient(stack.urls.api)
    with pytest.raises(BackendError) as caught:
        list(client.chat("llm_chat", {"query": "hi", "model_name": "no-such-model"}))
    assert caught.value.status == 404
    assert "no-such-model" in caught.value.message

    def page(api_url: str) -> None:
        from webui.api_client import ApiClient
        from webui.session import call

        call(lambda: list(ApiClient(api_url).chat("llm_chat", {"query": "hi", "model_name": "no-such-model"})))

    at = AppTest.from_function(page, args=(stack.urls.api,), default_timeout=60).run()
    assert not at.exception
    assert [e.value for e in at.error] == [caught.value.message]
