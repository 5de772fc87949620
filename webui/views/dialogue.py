"""Dialogue page: pick a mode and model in the sidebar, chat with streamed answers and sources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import streamlit as st

from webui import account, chat_options, conversations, sources, transcript
from webui.answer import absorb
from webui.api_client import FEEDBACK_PATH, ApiClient, ApiClientError
from webui.chat_options import ChatOptions
from webui.session import client, has, show_error

AVATARS = {"user": ":material/person:", "assistant": ":material/smart_toy:"}


def _request(options: ChatOptions, query: str, conversation_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "query": query,
        "history": transcript.history(options.history_turns),
        "temperature": options.temperature,
        "prompt_name": options.prompt_name,
        **options.extra,
    }
    if options.model_name:
        body["model_name"] = options.model_name
    if conversation_id:  # every mode stores its exchanges there, so a reload shows them
        body["conversation_id"] = conversation_id
    if options.mode == "llm_chat":
        body["history_len"] = -1  # the history above is what the model sees
    return body


def _feedback(api: ApiClient, message: dict[str, Any], index: int) -> None:
    message_id = message.get("message_id")
    if not message_id or not has(FEEDBACK_PATH):
        return
    sent = message.get("feedback")
    key = f"feedback_{message_id}"
    if sent is not None and key not in st.session_state:
        st.session_state[key] = 1 if sent >= 50 else 0
    choice = st.feedback("thumbs", key=key)
    if choice is None or message.get("feedback_sent") == choice:
        return
    with st.form(f"feedback_form_{message_id}", border=False, enter_to_submit=True):
        reason = st.text_input("Why? (optional)", key=f"feedback_reason_{message_id}", max_chars=500)
        if st.form_submit_button("Send feedback"):
            try:
                api.feedback(message_id, 100 if choice == 1 else 0, reason)
            except ApiClientError as exc:
                show_error(exc)
            else:
                message["feedback"] = 100 if choice == 1 else 0
                message["feedback_sent"] = choice
                st.toast("Thanks for the feedback.", icon=":material/thumb_up:")
                st.rerun()


def _show(api: ApiClient, message: dict[str, Any], index: int) -> None:
    with st.chat_message(message["role"], avatar=AVATARS.get(message["role"])):
        st.markdown(message.get("content", ""))
        if message["role"] == "assistant":
            sources.render_tools(message.get("tools") or [])
            sources.render(message.get("docs") or [], key=str(message.get("message_id") or f"m{index}"))
            if message.get("error"):
                st.error(message["error"], icon=":material/error:")
            _feedback(api, message, index)


def _answer(api: ApiClient, options: ChatOptions, query: str) -> dict[str, Any]:
    """Stream one answer into an assistant bubble and return it as a message to keep."""
    reply: dict[str, Any] = {"role": "assistant", "content": "", "docs": [], "tools": []}
    with st.chat_message("assistant", avatar=AVATARS["assistant"]):
        try:
            conversation_id = conversations.ensure_current(api, query, options.mode)
            events = api.chat(options.mode, _request(options, query, conversation_id))

            def text() -> Iterator[str]:
                for event in events:
                    chunk = absorb(reply, event)
                    if chunk:
                        yield chunk
                final = reply.pop("final", "")
                if final and not reply["content"].strip():  # an agent that streamed no answer chunks
                    reply["content"] = final
                    yield final

            st.write_stream(text())
        except ApiClientError as exc:
            reply["error"] = str(exc)
            show_error(exc)
        sources.render_tools(reply["tools"])
        sources.render(reply["docs"], key=str(reply.get("message_id") or "live"))
        _feedback(api, reply, -1)
    return reply


def page() -> None:
    api = client()
    with st.sidebar:
        options = chat_options.sidebar(api)
        st.divider()
        conversation_box = st.container()
    stored = conversations.sync(api)

    st.title("Dialogue")
    st.caption(
        f"{chat_options.MODE_LABELS.get(options.mode, options.mode)} · "
        f"model {options.model_name or chat_options.DEFAULT_MODEL_LABEL} · answers stream as they are written"
    )
    for index, message in enumerate(transcript.messages()):
        _show(api, message, index)
    if not options.ready:
        st.info(options.hint, icon=":material/info:")
    query = st.chat_input("Ask anything (Enter to send)", disabled=not options.ready, key="chat_query")
    if not query and options.ready:
        query = account.take_query()  # typed before the sign-in that was needed to send it
    if query and query.strip():
        account.keep_query(query)  # until answered (app.py keeps it first): a refused token must not lose it
        with st.chat_message("user", avatar=AVATARS["user"]):
            st.markdown(query)
        reply = _answer(api, options, query)
        account.drop_query()
        transcript.messages().extend([{"role": "user", "content": query}, reply])
    with conversation_box:
        conversations.sidebar(api, options.mode, stored)


page()
