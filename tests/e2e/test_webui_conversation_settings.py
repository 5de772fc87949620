"""Conversations in the web UI keep what the user made of them: nothing lost by Clear or Delete,
nothing stored empty, settings restored on reopening, answer length and system prompt honoured.

Streamlit's AppTest runs the real pages against the real backend and model.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from server.launcher.harness import RunningStack
from tests.e2e.conftest import received_prompt

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[2] / "webui" / "app.py")


@pytest.fixture
def app(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setattr(sys, "argv", ["app.py", "--api-url", stack.urls.api])
    return AppTest.from_file(APP, default_timeout=180)


def stored_conversations(stack: RunningStack) -> dict[str, dict]:
    rows = httpx.get(f"{stack.urls.api}/conversations", timeout=10).json()["data"]
    return {row["id"]: row for row in rows}


def stored_messages(stack: RunningStack, conversation_id: str) -> list[dict]:
    return httpx.get(f"{stack.urls.api}/conversations/{conversation_id}/messages", timeout=10).json()["data"]


def new_view(app: AppTest) -> AppTest:
    app.run()
    app.sidebar.button(key="conv_new").click().run()
    assert not app.exception and not app.chat_message
    return app


def test_new_conversation_stores_nothing_until_the_first_message_which_names_it(
    app: AppTest, stack: RunningStack
) -> None:
    before = set(stored_conversations(stack))
    new_view(app)
    app.sidebar.button(key="conv_new").click().run()  # a second click makes no second empty one
    assert set(stored_conversations(stack)) == before, "an empty conversation was stored"
    assert app.session_state["conversation_id"] == ""

    app.sidebar.number_input(key="max_tokens").set_value(8).run()
    app.chat_input[0].set_value("What colour   is the sky on a clear day, seen from a high mountain?").run()
    assert not app.exception
    created = set(stored_conversations(stack)) - before
    assert len(created) == 1
    (conversation_id,) = created
    name = stored_conversations(stack)[conversation_id]["name"]
    assert name.startswith("What colour is the sky on a clear day")  # one line, from the question
    assert len(name) <= 41


def test_clear_starts_an_empty_view_and_keeps_the_stored_conversation(
    app: AppTest, stack: RunningStack
) -> None:
    new_view(app)
    app.sidebar.number_input(key="max_tokens").set_value(8).run()
    app.chat_input[0].set_value("Remember the word walrus.").run()
    conversation_id = app.session_state["conversation_id"]
    before = set(stored_conversations(stack))

    app.sidebar.button(key=f"conv_clear_{conversation_id}").click().run()
    assert not app.exception
    assert not app.chat_message, "Clear should show an empty view"
    assert set(stored_conversations(stack)) == before, "Clear must neither delete nor create"
    assert [m["query"] for m in stored_messages(stack, conversation_id)] == ["Remember the word walrus."]

    app.sidebar.radio[0].set_value(conversation_id).run()  # and it is still there to go back to
    assert app.chat_message[0].markdown[0].value == "Remember the word walrus."


def test_deleting_a_conversation_leaves_an_empty_view_not_the_next_conversation(
    app: AppTest, stack: RunningStack
) -> None:
    new_view(app)
    app.sidebar.number_input(key="max_tokens").set_value(8).run()
    app.chat_input[0].set_value("Keep this one.").run()
    kept = app.session_state["conversation_id"]
    app.sidebar.button(key="conv_new").click().run()
    app.chat_input[0].set_value("Delete this one.").run()
    doomed = app.session_state["conversation_id"]
    assert doomed != kept

    app.sidebar.button(key=f"conv_delete_{doomed}").click().run()
    assert not app.exception
    ids = set(stored_conversations(stack))
    assert doomed not in ids and kept in ids
    # Before, the next conversation was opened at once, with a live Delete for it.
    assert app.session_state["conversation_id"] == ""
    assert not app.chat_message
    assert not [b for b in app.sidebar.button if b.key == f"conv_delete_{kept}"]
    assert app.session_state[f"conv_delete_pop_{doomed}"] is False  # the popover was closed


def test_a_conversation_comes_back_with_its_mode_knowledge_base_and_options(
    app: AppTest, stack: RunningStack
) -> None:
    new_view(app)
    app.sidebar.selectbox(key="chat_mode").set_value("knowledge_base_chat").run()
    app.sidebar.selectbox(key="kb_pick").set_value("samples").run()
    app.sidebar.number_input(key="kb_top_k").set_value(2).run()
    app.sidebar.number_input(key="max_tokens").set_value(16).run()
    app.sidebar.text_area(key="system_prompt").set_value("Answer briefly.").run()
    app.chat_input[0].set_value("What does the security policy say about passwords?").run()
    assert not app.exception and not app.error
    kb_conversation = app.session_state["conversation_id"]

    app.sidebar.button(key="conv_new").click().run()
    app.sidebar.selectbox(key="chat_mode").set_value("llm_chat").run()
    app.sidebar.text_area(key="system_prompt").set_value("").run()
    app.chat_input[0].set_value("Say hi.").run()
    llm_conversation = app.session_state["conversation_id"]

    app.sidebar.radio[0].set_value(kb_conversation).run()  # switching back
    assert app.sidebar.selectbox(key="chat_mode").value == "knowledge_base_chat"
    assert app.sidebar.selectbox(key="kb_pick").value == "samples"
    assert app.sidebar.number_input(key="kb_top_k").value == 2
    assert app.sidebar.text_area(key="system_prompt").value == "Answer briefly."

    reloaded = AppTest.from_file(APP, default_timeout=180)
    reloaded.query_params["conversation"] = kb_conversation  # a reload of that conversation's URL
    reloaded.run()
    assert reloaded.session_state["conversation_id"] == kb_conversation
    assert reloaded.sidebar.selectbox(key="chat_mode").value == "knowledge_base_chat"
    assert reloaded.sidebar.selectbox(key="kb_pick").value == "samples"
    assert reloaded.sidebar.number_input(key="max_tokens").value == 16

    reloaded.sidebar.radio[0].set_value(llm_conversation).run()
    assert reloaded.sidebar.selectbox(key="chat_mode").value == "llm_chat"


def test_max_tokens_and_the_system_prompt_reach_the_model(app: AppTest, stack: RunningStack) -> None:
    new_view(app)
    app.sidebar.number_input(key="max_tokens").set_value(5).run()
    app.sidebar.text_area(key="system_prompt").set_value("You are the lighthouse keeper Zebulon.").run()
    app.chat_input[0].set_value("Write a long story about the sea, at least ten paragraphs.").run()
    assert not app.exception and not app.error
    prompt = received_prompt(stack, "lighthouse keeper Zebulon")
    assert prompt.index("Zebulon") < prompt.index("Write a long story")
    (row,) = stored_messages(stack, app.session_state["conversation_id"])
    assert row["response"].strip()
    worker_log = "".join(p.read_text(errors="replace") for p in stack.log_dir.glob("*.log"))
    assert "length after 5 tokens" in worker_log  # the worker cut the answer at max tokens
