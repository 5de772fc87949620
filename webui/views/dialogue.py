"""Dialogue page: pick a mode and model in the sidebar, chat with streamed answers and sources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import streamlit as st

from webui import account, chat_options, conversations, sources, transcript
from webui.answer import absorb, scrub
from webui.api_client import CONVERSATIONS_PATH, FEEDBACK_PATH, ApiClient, ApiClientError, BackendError
from webui.chat_options import ChatOptions
from webui.i18n import N_, t
from webui.session import client, forget_models, has, show_error

AVATARS = {"user": ":material/person:", "assistant": ":material/smart_toy:"}


STOPPED, INTERRUPTED = "stopped", "interrupted"
RESEND_KEY = "_resend"
STOP_NOTES = {
    STOPPED: N_("Stopped: the answer above is as far as it got."),
    INTERRUPTED: N_("Interrupted by a new question: the answer above is as far as it got."),
}


def _request(options: ChatOptions, query: str, conversation_id: str) -> dict[str, Any]:
    history = transcript.history(options.history_turns)
    if options.system_prompt:
        history = [{"role": "system", "content": options.system_prompt}, *history]
    body: dict[str, Any] = {
        "query": query,
        "history": history,
        "temperature": options.temperature,
        "prompt_name": options.prompt_name,
        **options.extra,
    }
    if options.max_tokens:
        body["max_tokens"] = options.max_tokens
    if options.model_name:
        body["model_name"] = options.model_name
    if conversation_id:  # every mode stores its exchanges there, so a reload shows them
        body["conversation_id"] = conversation_id
    if options.mode == "llm_chat":
        body["history_len"] = -1  # the history above is what the model sees
    return body


def _stop_clicked() -> None:
    """Stop's callback, run at the start of the next script run.

    Any click makes Streamlit start a new run at once and stop the running one at its next output
    (``runner.fastReruns``: the two overlap), so the answer streaming there ends wherever it got;
    a Stop click says the user meant it.
    """
    for message in reversed(transcript.messages()):
        if message.get("role") == "assistant" and (message.get("pending") or message.get("stop")):
            message["stop"] = STOPPED
            return


def _mark_cut_short() -> None:
    """An answer still streaming in an earlier run is ended by this one: keep it, marked."""
    for message in transcript.messages():
        if message.get("pending"):
            message.setdefault("stop", INTERRUPTED)


def _send_feedback(api: ApiClient, message: dict[str, Any], key: str) -> None:
    """The thumbs' callback: one click stores the rating; a reason can follow."""
    choice = st.session_state.get(key)
    if choice is None:
        return
    score = 100 if choice == 1 else 0
    try:
        api.feedback(str(message["message_id"]), score, "")
    except ApiClientError as exc:
        st.session_state[f"{key}_error"] = str(exc)
        return
    message["feedback"] = score


def _feedback(api: ApiClient, message: dict[str, Any], index: int) -> None:
    message_id = message.get("message_id")
    if not message_id or not has(FEEDBACK_PATH):
        return
    sent = message.get("feedback")
    key = f"feedback_{message_id}"
    if sent is not None and key not in st.session_state:
        st.session_state[key] = 1 if sent >= 50 else 0  # a stored rating shows as given
    st.feedback("thumbs", key=key, on_change=_send_feedback, args=(api, message, key))
    if error := st.session_state.pop(f"{key}_error", None):
        st.error(error, icon=":material/error:")
    if message.get("feedback") is None:
        return
    if message.get("feedback_reason_sent"):
        st.caption(t("Thanks for the feedback."))
        return
    with st.form(f"feedback_form_{message_id}", border=False, enter_to_submit=True):
        reason = st.text_input(
            t("Saved. Why? (optional)"), key=f"feedback_reason_{message_id}", max_chars=500
        )
        if st.form_submit_button(t("Send reason")) and reason.strip():
            try:
                api.feedback(message_id, int(message["feedback"]), reason.strip())
            except ApiClientError as exc:
                show_error(exc)
            else:
                message["feedback_reason_sent"] = True
                st.toast(t("Thanks for the feedback."), icon=":material/thumb_up:")
                st.rerun()


def _resend(index: int, query: str, edited_key: str = "") -> None:
    """Regenerate's and Edit's callback: ask ``query`` in place of the exchange at ``index`` and after.

    Edit passes its text area's key: the text is read when the button is clicked, not when drawn.
    """
    if edited_key:
        query = str(st.session_state.get(edited_key) or "")
    if query.strip():
        st.session_state[RESEND_KEY] = (index, query.strip())


def take_resend(api: ApiClient) -> str | None:
    """A question to ask again, with the exchange it replaces (and every later one) removed first.

    The conversation is truncated, not branched: the stored exchanges from that one on are deleted,
    so the stored conversation is always what the page shows.
    """
    pending = st.session_state.pop(RESEND_KEY, None)
    if not pending:
        return None
    index, query = pending
    shown = transcript.messages()
    if not 0 <= index < len(shown) or shown[index].get("role") != "user":
        return None
    answer = shown[index + 1] if index + 1 < len(shown) else {}
    message_id, conversation_id = answer.get("message_id"), conversations.current_id()
    if message_id and conversation_id and has(CONVERSATIONS_PATH):
        try:
            api.truncate_conversation(conversation_id, str(message_id))
        except ApiClientError as exc:
            show_error(exc)
            return None
    del shown[index:]
    return query


def _question_actions(message: dict[str, Any], index: int) -> None:
    with st.popover(t("Edit"), icon=":material/edit:", key=f"edit_pop_{index}", on_change="rerun"):
        st.text_area(
            t("Question"), value=message.get("content", ""), key=f"edit_text_{index}", max_chars=20_000
        )
        st.caption(t("Sends this instead: this exchange and every later one are removed."))
        st.button(
            t("Send"),
            key=f"edit_send_{index}",
            type="primary",
            icon=":material/send:",
            on_click=_resend,
            args=(index, "", f"edit_text_{index}"),
        )


def _answer_actions(message: dict[str, Any], index: int, last: bool, question: str) -> None:
    with st.container(horizontal=True, gap="small"):
        with st.popover(t("Copy"), icon=":material/content_copy:", key=f"copy_pop_{index}"):
            st.caption(t("The whole answer as Markdown: use the copy button at its top right."))
            st.code(message.get("content", ""), language="markdown", wrap_lines=True)
        if last and question:
            st.button(
                t("Regenerate"),
                key=f"regenerate_{index}",
                icon=":material/refresh:",
                on_click=_resend,
                args=(index - 1, question),
            )


def _show(api: ApiClient, message: dict[str, Any], index: int, last: bool = False) -> None:
    with st.chat_message(message["role"], avatar=AVATARS.get(message["role"])):
        st.markdown(scrub(message.get("content", "")))
        if message["role"] == "user":
            _question_actions(message, index)
        if message["role"] == "assistant":
            sources.render_tools(message.get("tools") or [])
            sources.render(message.get("docs") or [], key=str(message.get("message_id") or f"m{index}"))
            if message.get("stop"):
                st.caption(t(STOP_NOTES.get(message["stop"], STOP_NOTES[STOPPED])))
            if message.get("error"):
                st.error(message["error"], icon=":material/error:")
            shown = transcript.messages()
            question = shown[index - 1].get("content", "") if index > 0 else ""
            _answer_actions(message, index, last, question)
            _feedback(api, message, index)


def _answer(api: ApiClient, options: ChatOptions, body: dict[str, Any], reply: dict[str, Any]) -> None:
    """Stream one answer into an assistant bubble, filling ``reply`` (already in the transcript).

    The reply is in the transcript before the first token, so whatever ends this run early (Stop,
    a new question, a page switch) leaves the partial answer in view, marked; the backend stores
    it as far as it got and marks it ``stopped``, as the stream is closed here.
    """
    events: Iterator[dict[str, Any]] | None = None
    finished = False
    reply["pending"] = True  # until this run has the whole answer (another run may end this one)
    with st.chat_message("assistant", avatar=AVATARS["assistant"]):
        stop_slot = st.empty()
        stop_slot.button(
            t("Stop"), key="chat_stop", icon=":material/stop_circle:", on_click=_stop_clicked, type="tertiary"
        )
        thinking = st.empty()
        thinking.caption(t("thinking…"))
        try:
            events = api.chat(options.mode, body)

            def text() -> Iterator[str]:
                assert events is not None
                for event in events:
                    chunk = absorb(reply, event)
                    if chunk:
                        thinking.empty()
                        yield chunk
                final = reply.pop("final", "")
                if final and not reply["content"].strip():  # an agent that streamed no answer chunks
                    reply["content"] = final
                    thinking.empty()
                    yield final

            slot = st.empty()
            with slot:
                st.write_stream(text())
            if (clean := scrub(reply["content"])) != reply["content"]:
                slot.markdown(clean)  # tool markup the model echoed: the stored answer keeps it, the page not
            finished = True
        except ApiClientError as exc:
            finished = True
            reply["error"] = str(exc)
            forget_models()  # the model may have stopped: the next run asks again
            if isinstance(exc, BackendError) and exc.signed_out:  # asked again after the sign-in
                del transcript.messages()[-2:]
                account.keep_query(str(body["query"]))
            show_error(exc)
        finally:
            reply.pop("pending", None)
            if not finished:  # this run was ended mid-answer: Stop, or a new question was sent
                reply.setdefault("stop", INTERRUPTED)
            if events is not None and hasattr(events, "close"):
                events.close()  # closes the HTTP stream: the backend stops decoding
        thinking.empty()
        stop_slot.empty()
        sources.render_tools(reply["tools"])
        sources.render(reply["docs"], key=str(reply.get("message_id") or "live"))
        if finished and not reply.get("error"):
            shown = transcript.messages()
            index = next((i for i in range(len(shown) - 1, -1, -1) if shown[i] is reply), -1)
            if index > 0:
                _answer_actions(reply, index, True, str(shown[index - 1].get("content", "")))
        _feedback(api, reply, -1)


def page() -> None:
    api = client()
    stored = conversations.sync(api)  # first: opening a conversation restores its settings
    with st.sidebar:
        options = chat_options.sidebar(api)
        st.divider()
        conversation_box = st.container()

    st.title(t("Dialogue"))
    st.caption(
        t(
            "{mode} · model {model} · answers stream as they are written",
            mode=t(chat_options.MODE_LABELS.get(options.mode, options.mode)),
            model=options.model_name or t(chat_options.DEFAULT_MODEL_LABEL),
        )
    )
    _mark_cut_short()
    resent = take_resend(api)  # before drawing: the exchanges it replaces are gone
    typed = st.session_state.get("chat_query")
    asking = bool(resent) or (isinstance(typed, str) and bool(typed.strip()))  # a new last answer comes
    shown = transcript.messages()
    for index, message in enumerate(shown):
        _show(api, message, index, last=index == len(shown) - 1 and not asking)
    if not options.ready:
        st.info(options.hint, icon=":material/info:")
    query = st.chat_input(t("Ask anything (Enter to send)"), disabled=not options.ready, key="chat_query")
    if not query and options.ready:
        query = resent or account.take_query()  # typed before the sign-in that was needed to send it
    if query and query.strip():
        account.keep_query(query)  # until answered (app.py keeps it first): a refused token must not lose it
        with st.chat_message("user", avatar=AVATARS["user"]):
            st.markdown(query)
        reply: dict[str, Any] = {"role": "assistant", "content": "", "docs": [], "tools": []}
        try:
            conversation_id = conversations.ensure_current(api, query, options.mode)
        except ApiClientError as exc:
            show_error(exc)
        else:
            body = _request(options, query, conversation_id)
            transcript.messages().extend([{"role": "user", "content": query}, reply])
            account.drop_query()
            _answer(api, options, body, reply)
    conversations.remember_settings(api, chat_options.settings_snapshot())
    with conversation_box:
        conversations.sidebar(api, options.mode, stored)


page()
