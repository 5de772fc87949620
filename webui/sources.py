"""Cited sources under an answer: structured sources (a file or a search result) or Chatchat's strings."""

from __future__ import annotations

from typing import Any

import streamlit as st


def _doc_markdown(index: int, doc: Any) -> str:
    if not isinstance(doc, dict):
        return str(doc)
    metadata: dict[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
    name = (
        doc.get("file_name")
        or doc.get("title")
        or doc.get("source")
        or metadata.get("source")
        or f"source {index}"
    )
    score = doc.get("score", metadata.get("score"))
    url = doc.get("url") or doc.get("download_url")
    title = f"[{name}]({url})" if url else f"`{name}`"
    score_text = f" · score {float(score):.3f}" if isinstance(score, int | float) else ""
    content = doc.get("text") or doc.get("page_content") or doc.get("content") or ""
    return f"**[{index}]** {title}{score_text}\n\n{content}"


def render(docs: list[Any]) -> None:
    if not docs:
        return
    with st.expander(f"Sources ({len(docs)})", expanded=False, icon=":material/menu_book:"):
        for index, doc in enumerate(docs, start=1):
            st.markdown(_doc_markdown(index, doc))
            if index < len(docs):
                st.divider()


def render_tools(tools: list[Any]) -> None:
    if not tools:
        return
    with st.expander(f"Tool steps ({len(tools)})", expanded=False, icon=":material/build:"):
        for step in tools:
            st.markdown(step if isinstance(step, str) else f"```json\n{step}\n```")
