"""The web UI in Chinese, and what a user does with answers and conversations all day: regenerate,
edit and resend, search, and look into a knowledge base's chunks.

Streamlit's AppTest runs the real pages against the shared real stack; answers are kept short.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from server.launcher.harness import RunningStack
from tests.e2e.conftest import received_prompt
from webui.conversations import NEW_VIEW_KEY

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[2] / "webui" / "app.py")


@pytest.fixture
def app(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setattr(sys, "argv", ["app.py", "--api-url", stack.urls.api])
    return AppTest.from_file(APP, default_timeout=180)


def fresh(app: AppTest, language: str = "en") -> AppTest:
    app.session_state[NEW_VIEW_KEY] = True  # an empty view, not the newest conversation
    app.session_state["ui_language"] = language
    app.run()
    app.sidebar.number_input(key="max_tokens").set_value(8).run()
    assert not app.exception and not app.chat_message
    return app


def stored(stack: RunningStack, conversation_id: str) -> list[dict]:
    return httpx.get(f"{stack.urls.api}/conversations/{conversation_id}/messages", timeout=10).json()["data"]


def test_the_whole_ui_speaks_chinese_when_chosen(app: AppTest, stack: RunningStack) -> None:
    fresh(app, "zh")
    assert app.title[0].value == "对话"
    assert app.sidebar.selectbox(key="chat_mode").format_func("knowledge_base_chat") == "知识库问答"
    assert app.sidebar.number_input(key="max_tokens").label == "最大 token 数"
    assert app.chat_input[0].placeholder == "请输入对话内容（Enter 发送）"
    app.chat_input[0].set_value("你好").run()
    assert not app.exception and not app.error
    answer = app.chat_message[1]
    assert [b.label for b in answer.button] == ["重新生成"]
    for page, title in [
        ("views/knowledge_base.py", "知识库"),
        ("views/models.py", "模型"),
        ("views/mcp.py", "MCP 连接"),
    ]:
        app.switch_page(page).run()
        assert not app.exception, page
        assert app.title[0].value == title
    app.switch_page("views/models.py").run()
    assert list(app.dataframe[0].value.columns[:2]) == ["模型", "状态"]
    assert list(app.dataframe[0].value["状态"]) == ["运行中"]

    app.sidebar.selectbox(key="ui_language").set_value("en").run()  # the switch, back to English
    assert app.title[0].value == "Models"


def test_regenerate_replaces_the_last_answer_and_edit_resends_a_question_truncating_after_it(
    app: AppTest, stack: RunningStack
) -> None:
    fresh(app)
    app.chat_input[0].set_value("Name a colour.").run()
    app.chat_input[0].set_value("Name a fruit.").run()
    assert not app.exception and not app.error
    conversation_id = app.session_state["conversation_id"]
    first = stored(stack, conversation_id)
    assert [m["query"] for m in first] == ["Name a colour.", "Name a fruit."]
    assert [b.key for b in app.chat_message[1].button] == []  # only the last answer regenerates

    app.chat_message[3].button(key="regenerate_3").click().run()
    assert not app.exception and not app.error
    again = stored(stack, conversation_id)
    assert [m["query"] for m in again] == ["Name a colour.", "Name a fruit."]
    assert again[0]["id"] == first[0]["id"] and again[1]["id"] != first[1]["id"]  # the last one, anew
    assert [m.name for m in app.chat_message] == ["user", "assistant"] * 2

    # Editing the first question removes it and everything after it, then asks the new text.
    app.text_area(key="edit_text_0").set_value("Name an animal.")
    app.button(key="edit_send_0").click().run()
    assert not app.exception and not app.error
    edited = stored(stack, conversation_id)
    assert [m["query"] for m in edited] == ["Name an animal."]
    assert [m.markdown[0].value for m in app.chat_message if m.name == "user"] == ["Name an animal."]
    assert app.chat_message[1].markdown[0].value == edited[0]["response"]


def test_conversations_are_searched_by_the_backend_over_titles_and_messages(
    app: AppTest, stack: RunningStack
) -> None:
    fresh(app)
    app.chat_input[0].set_value("Remember the word quokkaberry.").run()
    conversation_id = app.session_state["conversation_id"]
    api = f"{stack.urls.api}/conversations"

    def found(text: str) -> list[str]:
        response = httpx.get(api, params={"q": text}, timeout=10)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["data"]]

    assert found("QUOKKABERRY") == [conversation_id]  # in the question, any case
    reply = stored(stack, conversation_id)[0]["response"]
    word = max(reply.split(), key=len) if reply.split() else "quokkaberry"
    assert conversation_id in found(word)  # in the answer
    assert found("quokka%berry") == []  # % is a character to find, not a wildcard
    assert httpx.get(api, params={"q": "x" * 201}, timeout=10).status_code == 422

    app.sidebar.text_input(key="conv_search").set_value("quokkaberry").run()
    results = [r for r in app.sidebar.radio if r.label == "Results"]
    assert results and results[0].options == [app.sidebar.radio[0].format_func(conversation_id)]
    app.sidebar.text_input(key="conv_search").set_value("").run()
    assert [r.label for r in app.sidebar.radio][0] == "Today"  # grouped by date again


def test_a_message_of_another_conversation_cannot_be_truncated(stack: RunningStack) -> None:
    api = f"{stack.urls.api}/conversations"
    a = httpx.post(api, json={"name": "a"}, timeout=10).json()["data"]["id"]
    body = {"query": "hi", "conversation_id": a, "max_tokens": 2, "stream": False}
    httpx.post(f"{stack.urls.api}/chat/chat", json=body, timeout=120)
    (message,) = stored(stack, a)
    b = httpx.post(api, json={"name": "b"}, timeout=10).json()["data"]["id"]
    refused = httpx.delete(f"{api}/{b}/messages/{message['id']}", timeout=10)
    assert refused.status_code == 404 and "is not in conversation" in refused.json()["msg"]
    assert httpx.delete(f"{api}/{a}/messages/{message['id']}", timeout=10).json()["data"] == {"deleted": 1}
    assert stored(stack, a) == []


def test_an_english_question_gets_the_english_knowledge_base_prompt(stack: RunningStack) -> None:
    """The default KB template is Chinese; the model then answered English questions in Chinese."""
    for question, marker in [
        ("How long are database backups kept?", "Question: How long are database backups kept?"),
        ("数据库备份保留多久？", "<问题>数据库备份保留多久？</问题>"),
    ]:
        body = {"query": question, "knowledge_base_name": "samples", "max_tokens": 2, "stream": False}
        response = httpx.post(f"{stack.urls.api}/chat/knowledge_base_chat", json=body, timeout=120)
        assert response.status_code == 200, response.text
        prompt = received_prompt(stack, question)
        assert marker in prompt
        assert ("<已知信息>" in prompt) == (question != "How long are database backups kept?")


def test_the_uploader_takes_only_readable_types_and_says_the_real_size_limit(
    app: AppTest, stack: RunningStack
) -> None:
    limits = httpx.get(f"{stack.urls.api}/knowledge_base/upload_limits", timeout=10).json()["data"]
    assert ".md" in limits["extensions"] and ".exe" not in limits["extensions"]
    app.session_state["kb_page_pick"] = "samples"
    app.run()
    app.switch_page("views/knowledge_base.py").run()
    assert not app.exception
    uploader = app.get("file_uploader")[0]
    assert ".md" in uploader.proto.type and ".pdf" in uploader.proto.type
    assert ".exe" not in uploader.proto.type
    assert any(f"{limits['max_upload_mb']:g} MB" in c.value for c in app.caption)
