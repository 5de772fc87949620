"""The web UI's page logic against the real backend, run headless with Streamlit's AppTest."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from server.launcher.harness import RunningStack
from tests.search_fakes import FakeInternet
from webui.api_client import CHAT_MODE_PATHS, ApiClient, BackendError
from webui.conversations import NEW_VIEW_KEY

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[2] / "webui" / "app.py")


@pytest.fixture
def app(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app as the launcher starts it: ``webui/app.py -- --api-url <backend>``."""
    monkeypatch.setattr(sys, "argv", ["app.py", "--api-url", stack.urls.api])
    return AppTest.from_file(APP, default_timeout=180)


def start_fresh(app: AppTest) -> AppTest:
    """Open the app in a new conversation (a new session otherwise continues the newest one)."""
    app.run()
    new = [button for button in app.sidebar.button if button.key == "conv_new"]
    if new:
        new[0].click().run()
    app.sidebar.number_input(key="max_tokens").set_value(64).run()  # short answers on a busy CPU
    assert not app.chat_message
    return app


def sources_shown(message) -> list[str]:  # noqa: ANN001 - an AppTest chat message
    """The entries of the answer's Sources expander."""
    sources = [e for e in message.expander if e.label.startswith("Sources")]
    assert sources, "the answer shows no sources"
    return [m.value for m in sources[0].markdown]


def backend_paths(stack: RunningStack) -> set[str]:
    return set(httpx.get(f"{stack.urls.api}/openapi.json", timeout=10).json()["paths"])


def test_the_dialogue_page_opens_with_a_title_and_sensible_defaults(app: AppTest) -> None:
    # A new session continues the newest conversation, with that conversation's settings; earlier
    # stories leave some in other modes behind. A session that starts empty shows the defaults.
    app.session_state[NEW_VIEW_KEY] = True
    app.run()
    assert not app.chat_message  # no conversation was opened
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
    assert served == list(CHAT_MODE_PATHS), "the backend lacks a chat route the web UI knows"
    assert app.sidebar.selectbox(key="chat_mode").options == [
        {
            "llm_chat": "LLM chat",
            "knowledge_base_chat": "Knowledge-base chat",
            "file_chat": "File chat",
            "search_engine_chat": "Search-engine chat",
            "agent_chat": "Agent chat",
        }[mode]
        for mode in served
    ]


def test_a_question_gets_an_answer_from_the_model_and_history_grows(app: AppTest) -> None:
    start_fresh(app)
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

        call(
            lambda: list(ApiClient(api_url).chat("llm_chat", {"query": "hi", "model_name": "no-such-model"}))
        )

    at = AppTest.from_function(page, args=(stack.urls.api,), default_timeout=60).run()
    assert not at.exception
    assert [e.value for e in at.error] == [caught.value.message]


def test_conversations_persist_so_a_new_session_sees_the_same_history(
    app: AppTest, stack: RunningStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_fresh(app)
    app.chat_input[0].set_value("My favourite fruit is the mango.").run()
    assert not app.exception
    conversation_id = app.session_state["conversation_id"]
    stored = httpx.get(f"{stack.urls.api}/conversations/{conversation_id}/messages", timeout=10).json()[
        "data"
    ]
    assert [m["query"] for m in stored] == ["My favourite fruit is the mango."]
    assert stored[0]["response"] == app.chat_message[1].markdown[0].value

    reopened = AppTest.from_file(APP, default_timeout=180).run()  # a reload: a fresh browser session
    assert reopened.session_state["conversation_id"] == conversation_id
    assert [m.markdown[0].value for m in reopened.chat_message][0] == "My favourite fruit is the mango."

    def stored_ids() -> list[str]:
        return [c["id"] for c in httpx.get(f"{stack.urls.api}/conversations", timeout=10).json()["data"]]

    before = stored_ids()
    reopened.sidebar.button(key="conv_new").click().run()
    assert len(reopened.chat_message) == 0
    assert reopened.session_state["conversation_id"] == ""  # an empty view: stored with its first message
    assert stored_ids() == before
    reopened.sidebar.radio[0].set_value(conversation_id).run()
    assert reopened.chat_message[0].markdown[0].value == "My favourite fruit is the mango."

    rename = reopened.sidebar.text_input(key=f"conv_rename_{conversation_id}")
    rename.set_value("Fruit talk").run()
    reopened.sidebar.button(key=f"conv_rename_save_{conversation_id}").click().run()
    names = {
        c["id"]: c["name"] for c in httpx.get(f"{stack.urls.api}/conversations", timeout=10).json()["data"]
    }
    assert names[conversation_id] == "Fruit talk"

    reopened.sidebar.button(key=f"conv_delete_{conversation_id}").click().run()
    assert not reopened.exception
    assert sorted(stored_ids()) == sorted(i for i in before if i != conversation_id)  # only that one went


def test_one_thumbs_click_stores_the_rating_and_a_reason_can_follow(
    app: AppTest, stack: RunningStack
) -> None:
    start_fresh(app)
    app.chat_input[0].set_value("Tell me a short joke.").run()
    message_id = app.chat_message[1].get("feedback")[0].key.removeprefix("feedback_")
    app.run()
    conversation_id = app.session_state["conversation_id"]

    def stored() -> tuple[int | None, str | None]:
        rows = httpx.get(f"{stack.urls.api}/conversations/{conversation_id}/messages", timeout=10).json()
        row = next(m for m in rows["data"] if m["id"] == message_id)
        return row["feedback_score"], row["feedback_reason"]

    app.get("feedback")[0].set_value(0).run()
    assert not app.exception and not app.error
    assert stored()[0] == 0  # the click alone stored it (before, only "Send feedback" did)
    app.text_input(key=f"feedback_reason_{message_id}").set_value("not funny")  # typed, then submitted
    app.button(key=f"FormSubmitter:feedback_form_{message_id}-Send reason").click().run()
    assert not app.exception and not app.error
    assert stored() == (0, "not funny")

    reopened = AppTest.from_file(APP, default_timeout=180)
    reopened.query_params["conversation"] = conversation_id
    reopened.run()  # a reload shows the rating given, not an empty, re-armed form
    assert reopened.get("feedback")[0].value == 0
    assert not [t for t in reopened.text_input if t.key == f"feedback_reason_{message_id}"]


def test_the_models_page_lists_the_running_model(app: AppTest, stack: RunningStack) -> None:
    app.run()
    app.switch_page("views/models.py").run()
    assert not app.exception and not app.error
    assert app.title[0].value == "Models"
    running = app.dataframe[0].value
    assert list(running["model"]) == ["smollm2"]
    assert app.selectbox(key="models_stop_pick").options == ["smollm2"]
    assert app.button(key="models_stop").disabled  # stopping needs the confirmation box ticked


def test_dialogue_settings_survive_a_visit_to_another_page(app: AppTest, stack: RunningStack) -> None:
    app.run()
    app.sidebar.slider(key="temperature").set_value(0.2).run()
    app.sidebar.number_input(key="history_turns").set_value(5).run()
    app.switch_page("views/models.py").run()
    app.switch_page("views/dialogue.py").run()
    assert not app.exception
    assert app.sidebar.slider(key="temperature").value == pytest.approx(0.2)
    assert app.sidebar.number_input(key="history_turns").value == 5


def test_a_knowledge_base_answer_keeps_its_sources_after_a_reload(app: AppTest, stack: RunningStack) -> None:
    start_fresh(app)
    app.sidebar.selectbox(key="chat_mode").set_value("knowledge_base_chat").run()
    app.sidebar.selectbox(key="kb_pick").set_value("samples").run()
    app.sidebar.slider(key="temperature").set_value(0.0).run()
    app.chat_input[0].set_value("How long are database backups kept?").run()
    assert not app.exception and not app.error
    answer = app.chat_message[1]
    assert answer.get("feedback"), "the answer can be rated: its message id came with the stream"

    def cited(message) -> str:  # noqa: ANN001 - an AppTest chat message
        return " ".join(sources_shown(message))

    shown_sources = cited(answer)
    assert "operations.md" in shown_sources and "ninety days" in shown_sources
    conversation_id = app.session_state["conversation_id"]
    messages = httpx.get(f"{stack.urls.api}/conversations/{conversation_id}/messages", timeout=10)
    [stored] = messages.json()["data"]
    assert stored["chat_type"] == "knowledge_base_chat"

    reopened = AppTest.from_file(APP, default_timeout=180).run()  # a reload: a fresh browser session
    assert not reopened.exception
    assert reopened.session_state["conversation_id"] == conversation_id
    user, restored = reopened.chat_message
    assert user.markdown[0].value == "How long are database backups kept?"
    assert restored.markdown[0].value == answer.markdown[0].value
    assert cited(restored) == shown_sources
    assert restored.get("feedback")


def test_an_agent_answer_shows_its_tool_steps_and_keeps_them_after_a_reload(
    app: AppTest, stack: RunningStack
) -> None:
    start_fresh(app)
    app.sidebar.selectbox(key="chat_mode").set_value("agent_chat").run()
    app.sidebar.selectbox(key="agent_tool_calling").set_value("react").run()
    app.sidebar.slider(key="temperature").set_value(0.0).run()
    app.chat_input[0].set_value("Convert 10 km to miles").run()
    assert not app.exception and not app.error
    answer = app.chat_message[1]

    def steps(message) -> tuple[str, list[str]]:  # noqa: ANN001 - an AppTest chat message
        [expander] = [e for e in message.expander if e.label.startswith("Tool steps")]
        return expander.label, [m.value for m in expander.markdown]

    label, shown = steps(answer)
    conversation_id = app.session_state["conversation_id"]
    [stored] = httpx.get(f"{stack.urls.api}/conversations/{conversation_id}/messages", timeout=10).json()[
        "data"
    ]
    assert stored["chat_type"] == "agent_chat" and stored["meta"]["tools"]
    assert label == f"Tool steps ({len(stored['meta']['tools'])})"
    assert shown[0].startswith("Tool: ")  # Chatchat's Chinese step labels, in the UI's language
    assert stored["response"] == stored["meta"]["final_answer"] and stored["response"].strip()

    reopened = AppTest.from_file(APP, default_timeout=180).run()  # a reload
    assert not reopened.exception
    _, restored = reopened.chat_message
    assert steps(restored) == (label, shown)
    assert restored.markdown[0].value.strip() == stored["response"].strip()


def test_a_search_answer_cites_the_results_in_order_and_keeps_them_after_a_reload(
    app: AppTest, stack: RunningStack, internet: FakeInternet
) -> None:
    start_fresh(app)
    app.sidebar.selectbox(key="chat_mode").set_value("search_engine_chat").run()
    assert app.sidebar.selectbox(key="engine_pick").options == ["searxng"]
    app.sidebar.number_input(key="search_top_k").set_value(2).run()
    app.sidebar.slider(key="temperature").set_value(0.0).run()
    app.chat_input[0].set_value("wind power").run()
    assert not app.exception and not app.error
    answer = app.chat_message[1]
    assert answer.markdown[0].value.strip() and answer.get("feedback")

    shown = sources_shown(answer)
    expected = internet.searxng_results("wind power")[:2]
    assert len(shown) == 2
    for text, result in zip(shown, expected, strict=True):
        assert f"[{result['title']}]({result['url']})" in text and result["content"] in text

    reopened = AppTest.from_file(APP, default_timeout=180).run()  # a reload
    assert not reopened.exception
    _, restored = reopened.chat_message
    assert sources_shown(restored) == shown
    assert restored.markdown[0].value == answer.markdown[0].value
