"""The conversation shown on the Dialogue page, kept in the browser session.

Messages are plain dicts so they survive Streamlit reruns unchanged: ``role``, ``content`` and, for
answers, ``message_id``, ``docs``, ``tools`` and ``feedback``. With the backend's conversation
endpoints the stored conversation is the source of truth and is loaded from there.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from webui.answer import step_entry, step_lines
from webui.i18n import t

MESSAGES_KEY = "messages"


def messages() -> list[dict[str, Any]]:
    return st.session_state.setdefault(MESSAGES_KEY, [])


def clear() -> None:
    st.session_state[MESSAGES_KEY] = []


def replace(new_messages: list[dict[str, Any]]) -> None:
    st.session_state[MESSAGES_KEY] = new_messages


def _meta(row: dict[str, Any]) -> dict[str, Any]:
    meta = row.get("meta") or {}
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            meta = {}
    return meta if isinstance(meta, dict) else {}


def from_stored(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Backend rows (one per exchange: query and response) as the user/assistant messages shown.

    Each answer gets back what the live view showed under it: the cited sources (structured ones
    when stored, as the stream's ``sources`` win over ``docs``), the agent's tool steps and an error.
    """
    shown: list[dict[str, Any]] = []
    for row in stored:
        meta = _meta(row)
        steps = meta.get("tools") or []
        answer: dict[str, Any] = {
            "role": "assistant",
            "content": row.get("response", ""),
            "message_id": row.get("id"),
            "docs": list(meta.get("sources") or meta.get("docs") or []),
            "tools": [step_entry(step_lines(s)) if isinstance(s, dict) else str(s) for s in steps],
            "feedback": row.get("feedback_score"),
            "feedback_reason_sent": bool(row.get("feedback_reason")),
        }
        if meta.get("error"):
            answer["error"] = str(meta["error"])
        if meta.get("stopped"):  # the client went away mid-answer: Stop, or a new question
            answer["stop"] = "stopped"
        shown += [{"role": "user", "content": row.get("query", "")}, answer]
    return shown


def history(turns: int) -> list[dict[str, str]]:
    """The last ``turns`` user/assistant pairs, as the chat endpoints take them."""
    if turns <= 0:
        return []
    pairs = [{"role": m["role"], "content": m["content"]} for m in messages() if m.get("content")]
    return pairs[-2 * turns :]


def to_markdown(title: str, shown: list[dict[str, Any]]) -> str:
    """A transcript for download when the backend cannot export one itself."""
    lines = [f"# {title}", ""]
    for message in shown:
        who = t("User") if message["role"] == "user" else t("Assistant")
        lines += [f"## {who}", "", message.get("content", ""), ""]
    return "\n".join(lines)
