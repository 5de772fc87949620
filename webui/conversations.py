"""The conversation list in the Dialogue sidebar: new, switch, rename, delete, export, clear.

With the backend's ``/conversations`` endpoints every conversation is stored there, so a reload or
a second tab shows the same list and history; without them the one on-screen conversation is kept
in the browser session only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from webui import transcript
from webui.api_client import CONVERSATIONS_PATH, ApiClient, ApiClientError
from webui.session import call, has, show_error

CURRENT_KEY = "conversation_id"
LOADED_KEY = "_loaded_conversation"
QUERY_PARAM = "conversation"


def current_id() -> str:
    return str(st.session_state.get(CURRENT_KEY) or "")


def _select(conversation_id: str) -> None:
    """Remember the choice in the session and in the URL, so a reload reopens the same conversation."""
    st.session_state[CURRENT_KEY] = conversation_id
    if conversation_id:
        st.query_params[QUERY_PARAM] = conversation_id
    elif QUERY_PARAM in st.query_params:
        del st.query_params[QUERY_PARAM]


def _default_name(taken: Iterable[str] = ()) -> str:
    """A fresh name no other conversation has, so no label in the list changes because of it."""
    base = f"Chat {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S')}"
    taken = set(taken)
    name, number = base, 2
    while name in taken:
        name, number = f"{base} ({number})", number + 1
    return name


def ensure_current(client: ApiClient, first_query: str, chat_type: str) -> str:
    """The conversation a new message goes into, created on first use and named after the question."""
    if not has(CONVERSATIONS_PATH):
        return ""
    if current_id():
        return current_id()
    name = " ".join(first_query.split())[:40] or _default_name()
    created = client.create_conversation(name=name, chat_type=chat_type)
    _select(created["id"])
    st.session_state[LOADED_KEY] = created["id"]
    return created["id"]


def _load(client: ApiClient, conversation_id: str) -> None:
    if st.session_state.get(LOADED_KEY) == conversation_id:
        return
    stored = call(lambda: client.messages(conversation_id), default=None)
    if stored is not None:
        transcript.replace(transcript.from_stored(stored))
        st.session_state[LOADED_KEY] = conversation_id


def sync(client: ApiClient) -> list[dict[str, Any]] | None:
    """Pick the current conversation and load its messages; ``None`` when conversations are not stored.

    A reload reopens the conversation named in the URL; a new tab continues the newest one.
    """
    if not has(CONVERSATIONS_PATH):
        return None
    items: list[dict[str, Any]] = call(client.conversations, default=None)
    if items is None:
        return None
    ids = [item["id"] for item in items]
    if current_id() not in ids:
        linked = st.query_params.get(QUERY_PARAM, "")
        _select(linked if linked in ids else (ids[0] if ids else ""))
        if not ids:
            transcript.clear()
            st.session_state.pop(LOADED_KEY, None)
    if current_id():
        _load(client, current_id())
    return items


def sidebar(client: ApiClient, chat_type: str, items: list[dict[str, Any]] | None) -> None:
    """The list and its actions; drawn after the chat so a conversation the first message created shows."""
    st.subheader("Conversations")
    if not has(CONVERSATIONS_PATH):
        st.caption("Kept in this browser tab only.")
        _local_actions()
        return
    if items is None:
        return
    if current_id() and current_id() not in {item["id"] for item in items}:
        items = call(client.conversations, default=items)
    by_id = {item["id"]: item for item in items}
    if st.button("New conversation", icon=":material/add_comment:", width="stretch", key="conv_new"):
        try:
            created = client.create_conversation(
                name=_default_name(item["name"] for item in items), chat_type=chat_type
            )
        except ApiClientError as exc:
            show_error(exc)
        else:
            _select(created["id"])
            st.session_state[LOADED_KEY] = created["id"]
            transcript.clear()
            st.rerun()
    if not by_id or current_id() not in by_id:
        st.caption("No conversations yet: the first message starts one.")
        return
    ids = list(by_id)
    # No key on purpose: the widget is new whenever the list or the current conversation changes,
    # so it always starts at the conversation shown and never carries a stale choice over.
    choice = st.radio(
        "Conversation",
        ids,
        index=ids.index(current_id()),
        format_func=_labels(items).__getitem__,
        label_visibility="collapsed",
    )
    if choice != current_id():
        _select(choice)
        st.rerun()  # the chat above still shows the old conversation
    _stored_actions(client, by_id[current_id()])


def _labels(items: list[dict[str, Any]]) -> dict[str, str]:
    """Each conversation's name, made unique: Streamlit tells options apart by their label."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item["name"]] = counts.get(item["name"], 0) + 1
    labels: dict[str, str] = {}
    for item in items:
        label = item["name"]
        if counts[label] > 1:
            label = f"{label} · {str(item.get('created_at', ''))[11:19]} · {item['id'][:6]}"
        labels[item["id"]] = label
    return labels


def _stored_actions(client: ApiClient, current: dict[str, Any]) -> None:
    cid = current["id"]
    col_rename, col_delete = st.columns(2)
    with col_rename.popover("Rename", icon=":material/edit:", width="stretch"):
        new_name = st.text_input("New name", value=current["name"], key=f"conv_rename_{cid}", max_chars=100)
        if st.button("Save", key=f"conv_rename_save_{cid}", type="primary"):
            if not new_name.strip():
                st.error("The name must not be empty.")
            elif call(lambda: client.rename_conversation(cid, new_name.strip()), default=None) is not None:
                st.rerun()
    with col_delete.popover("Delete", icon=":material/delete:", width="stretch"):
        st.write(f"Delete **{current['name']}** and its messages?")
        if st.button("Delete conversation", key=f"conv_delete_{cid}", type="primary"):
            try:
                client.delete_conversation(cid)
            except ApiClientError as exc:
                show_error(exc)
            else:
                _select("")
                st.session_state.pop(LOADED_KEY, None)
                transcript.clear()
                st.rerun()

    def export() -> bytes:
        try:
            return client.export_conversation(cid).content
        except ApiClientError as exc:
            return f"Export failed: {exc}\n".encode()

    col_export, col_clear = st.columns(2)
    col_export.download_button(
        "Export",
        data=export,
        file_name=f"{_safe_file_name(current['name'])}.md",
        mime="text/markdown",
        icon=":material/download:",
        width="stretch",
        key=f"conv_export_{cid}",
        on_click="ignore",
    )
    if col_clear.button(
        "Clear",
        icon=":material/mop:",
        width="stretch",
        key=f"conv_clear_{cid}",
        help="Empty this conversation (it keeps its name).",
    ):
        try:
            client.delete_conversation(cid)
            created = client.create_conversation(
                name=current["name"], chat_type=current.get("chat_type") or "llm_chat"
            )
        except ApiClientError as exc:
            show_error(exc)
        else:
            _select(created["id"])
            st.session_state[LOADED_KEY] = created["id"]
            transcript.clear()
            st.rerun()


def _local_actions() -> None:
    # The download runs outside this script run, without the session: hand it a snapshot.
    shown = [dict(message) for message in transcript.messages()]
    col_export, col_clear = st.columns(2)
    col_export.download_button(
        "Export",
        data=lambda: transcript.to_markdown("Conversation", shown).encode(),
        file_name="conversation.md",
        mime="text/markdown",
        icon=":material/download:",
        width="stretch",
        key="conv_export_local",
        on_click="ignore",
    )
    if col_clear.button("Clear", icon=":material/mop:", width="stretch", key="conv_clear_local"):
        transcript.clear()
        st.rerun()


def _safe_file_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in name).strip()
    return cleaned[:60] or "conversation"
