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

from webui import chat_options, dates, transcript
from webui.api_client import CONVERSATIONS_PATH, ApiClient, ApiClientError
from webui.i18n import t
from webui.session import call, has

CURRENT_KEY = "conversation_id"
LOADED_KEY = "_loaded_conversation"
NEW_VIEW_KEY = "_new_conversation_view"  # an empty view the user asked for: nothing stored until sent
NOTICE_KEY = "_conversation_notice"
SAVED_SETTINGS_KEY = "_conversation_settings_saved"
SEARCH_KEY = "conv_search"
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
    base = t("Chat {stamp}", stamp=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"))
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
    created = client.create_conversation(name=title_for(first_query), chat_type=chat_type)
    _select(created["id"])
    st.session_state[LOADED_KEY] = created["id"]
    st.session_state.pop(NEW_VIEW_KEY, None)
    return created["id"]


def title_for(first_query: str, width: int = 40) -> str:
    """A conversation's name from its first question: one line, cut at a word where it can be."""
    text = " ".join(first_query.split())
    if len(text) <= width:
        return text or _default_name()
    cut = text[:width]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut).rstrip(" ,.;:") + "…"


def start_new_view() -> None:
    """An empty chat; the next message creates (and names) its conversation, so none is stored empty."""
    _select("")
    st.session_state[NEW_VIEW_KEY] = True
    st.session_state.pop(LOADED_KEY, None)
    transcript.clear()


def _load(client: ApiClient, conversation: dict[str, Any]) -> None:
    """Show a conversation opened now (switched to, or after a reload) with the settings it had."""
    conversation_id = conversation["id"]
    if st.session_state.get(LOADED_KEY) == conversation_id:
        return
    stored = call(lambda: client.messages(conversation_id), default=None)
    if stored is not None:
        transcript.replace(transcript.from_stored(stored))
        st.session_state[LOADED_KEY] = conversation_id
        settings = conversation.get("settings") or {}
        if not settings and conversation.get("chat_type"):  # stored before settings were kept
            settings = {"chat_mode": conversation["chat_type"]}
        chat_options.apply_settings(settings)
        st.session_state[SAVED_SETTINGS_KEY] = (conversation_id, dict(settings))


def remember_settings(client: ApiClient, settings: dict[str, Any]) -> None:
    """Store the current settings with the current conversation when they changed (one PATCH)."""
    cid = current_id()
    if not cid or not has(CONVERSATIONS_PATH):
        return
    saved = st.session_state.get(SAVED_SETTINGS_KEY)
    if saved == (cid, settings):
        return
    try:
        client.save_conversation_settings(cid, settings)
    except ApiClientError:
        return  # not worth an error on the page; tried again on the next run
    st.session_state[SAVED_SETTINGS_KEY] = (cid, dict(settings))


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
    if current_id() not in ids and not (st.session_state.get(NEW_VIEW_KEY) and not current_id()):
        linked = st.query_params.get(QUERY_PARAM, "")
        _select(linked if linked in ids else (ids[0] if ids else ""))
        if not current_id():
            transcript.clear()
            st.session_state.pop(LOADED_KEY, None)
    if current_id():
        _load(client, next(item for item in items if item["id"] == current_id()))
    return items


def sidebar(client: ApiClient, chat_type: str, items: list[dict[str, Any]] | None) -> None:
    """The list and its actions; drawn after the chat so a conversation the first message created shows."""
    st.subheader(t("Conversations"))
    if not has(CONVERSATIONS_PATH):
        st.caption(t("Kept in this browser tab only."))
        _local_actions()
        return
    if items is None:
        return
    if current_id() and current_id() not in {item["id"] for item in items}:
        items = call(client.conversations, default=items)
    by_id = {item["id"]: item for item in items}
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.toast(notice, icon=":material/check_circle:")
    if st.button(t("New conversation"), icon=":material/add_comment:", width="stretch", key="conv_new"):
        start_new_view()
        st.rerun()
    if not by_id:
        st.caption(t("No conversations yet: the first message starts one."))
        return
    search = st.text_input(
        t("Search conversations"),
        key=SEARCH_KEY,
        max_chars=200,
        placeholder=t("Search titles and messages"),
        label_visibility="collapsed",
        icon=":material/search:",
    ).strip()
    shown = items
    if search:
        shown = call(lambda: client.conversations(search=search), default=[]) or []
        if not shown:
            st.caption(t("No conversation matches “{query}”.", query=search))
    labels = _labels(items + [item for item in shown if item["id"] not in by_id])
    groups = [(t("Results"), shown)] if search else _date_groups(shown)
    with st.container(height=320 if len(shown) > 8 else "content", border=False):
        for label, group in groups:
            ids = [item["id"] for item in group]
            # No key on purpose: the widget is new whenever the list or the current conversation
            # changes, so it always starts at the conversation shown and never carries a stale choice.
            choice = st.radio(
                label,
                ids,
                index=ids.index(current_id()) if current_id() in ids else None,
                format_func=labels.get,
            )
            if choice is not None and choice != current_id():
                st.session_state.pop(NEW_VIEW_KEY, None)
                _select(choice)
                st.rerun()  # the chat above still shows the old conversation
    if current_id() in by_id:
        _stored_actions(client, by_id[current_id()])


def _date_groups(items: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Today, Yesterday, ... in the browser's time zone."""
    try:
        tz_name = st.context.timezone
    except Exception:  # no browser context
        tz_name = None
    tz = dates.zone(tz_name if isinstance(tz_name, str) else None)
    return [(t(label), group) for label, group in dates.group(items, datetime.now(UTC), tz)]


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


def _close(popover_key: str) -> None:
    st.session_state[popover_key] = False


def _rename(client: ApiClient, cid: str, popover_key: str) -> None:
    """The Save button's callback: rename, then close the popover (a callback may still set its state)."""
    new_name = str(st.session_state.get(f"conv_rename_{cid}") or "").strip()
    if not new_name:
        st.session_state[NOTICE_KEY + "_error"] = t("The name must not be empty.")
        return
    try:
        client.rename_conversation(cid, new_name)
    except ApiClientError as exc:
        st.session_state[NOTICE_KEY + "_error"] = str(exc)
        return
    _close(popover_key)
    st.session_state[NOTICE_KEY] = t("Renamed to {name}.", name=new_name)


def _delete(client: ApiClient, cid: str, name: str, popover_key: str) -> None:
    """The confirm button's callback: delete, close the popover, show an empty view (never the next one)."""
    try:
        client.delete_conversation(cid)
    except ApiClientError as exc:
        st.session_state[NOTICE_KEY + "_error"] = str(exc)
        return
    _close(popover_key)
    start_new_view()
    st.session_state[NOTICE_KEY] = t("Deleted {name}.", name=name)


def _stored_actions(client: ApiClient, current: dict[str, Any]) -> None:
    cid = current["id"]
    if error := st.session_state.pop(NOTICE_KEY + "_error", None):
        st.error(error, icon=":material/error:")
    col_rename, col_delete = st.columns(2)
    rename_key, delete_key = f"conv_rename_pop_{cid}", f"conv_delete_pop_{cid}"
    with col_rename.popover(
        t("Rename"), icon=":material/edit:", width="stretch", key=rename_key, on_change="rerun"
    ):
        st.text_input(t("New name"), value=current["name"], key=f"conv_rename_{cid}", max_chars=100)
        st.button(
            t("Save"),
            key=f"conv_rename_save_{cid}",
            type="primary",
            on_click=_rename,
            args=(client, cid, rename_key),
        )
    with col_delete.popover(
        t("Delete"), icon=":material/delete:", width="stretch", key=delete_key, on_change="rerun"
    ):
        st.write(t("Delete **{name}** and its messages? This cannot be undone.", name=current["name"]))
        st.button(
            t("Delete conversation"),
            key=f"conv_delete_{cid}",
            type="primary",
            on_click=_delete,
            args=(client, cid, current["name"], delete_key),
        )

    def export() -> bytes:
        try:
            return client.export_conversation(cid).content
        except ApiClientError as exc:
            return (t("Export failed: {reason}", reason=exc) + "\n").encode()

    col_export, col_clear = st.columns(2)
    col_export.download_button(
        t("Export"),
        data=export,
        file_name=f"{_safe_file_name(current['name'])}.md",
        mime="text/markdown",
        icon=":material/download:",
        width="stretch",
        key=f"conv_export_{cid}",
        on_click="ignore",
    )
    if col_clear.button(
        t("Clear"),
        icon=":material/mop:",
        width="stretch",
        key=f"conv_clear_{cid}",
        help=t("Start with an empty view; this conversation stays in the list (Delete removes it)."),
    ):
        start_new_view()
        st.rerun()


def _local_actions() -> None:
    # The download runs outside this script run, without the session: hand it a snapshot.
    shown = [dict(message) for message in transcript.messages()]
    col_export, col_clear = st.columns(2)
    col_export.download_button(
        t("Export"),
        data=lambda: transcript.to_markdown(t("Conversation"), shown).encode(),
        file_name="conversation.md",
        mime="text/markdown",
        icon=":material/download:",
        width="stretch",
        key="conv_export_local",
        on_click="ignore",
    )
    if col_clear.button(t("Clear"), icon=":material/mop:", width="stretch", key="conv_clear_local"):
        transcript.clear()
        st.rerun()


def _safe_file_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in name).strip()
    return cleaned[:60] or "conversation"
