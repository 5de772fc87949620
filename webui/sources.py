"""Cited sources under an answer: structured sources (a file or a search result) or Chatchat's strings."""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import streamlit as st

from webui.answer import translate_step
from webui.api_client import ApiClient
from webui.i18n import t

DOWNLOAD_PATH = "/knowledge_base/download_doc"


def _kb_file(url: str | None) -> tuple[str, str] | None:
    """(knowledge base, file) of a backend download link."""
    if not url or urlsplit(url).path != DOWNLOAD_PATH:
        return None
    query = parse_qs(urlsplit(url).query)
    kb, name = query.get("knowledge_base_name", [""])[0], query.get("file_name", [""])[0]
    return (kb, name) if kb and name else None


def _file_content(api: ApiClient, kb: str, name: str) -> bytes:
    return api.download_doc(kb, name).content


def _doc_markdown(index: int, doc: Any, links: bool = True) -> str:
    if not isinstance(doc, dict):
        return str(doc)
    metadata: dict[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
    name = (
        doc.get("file_name")
        or doc.get("title")
        or doc.get("source")
        or metadata.get("source")
        or t("source {index}", index=index)
    )
    score = doc.get("score", metadata.get("score"))
    url = doc.get("url") or doc.get("download_url")
    title = f"[{name}]({url})" if url and links else f"`{name}`"
    relevance = doc.get("relevance")
    if isinstance(relevance, int | float):  # 0..1, higher is better; the distance stays for Chatchat users
        score_text = t(" · relevance {relevance}", relevance=f"{float(relevance):.2f}")
        if isinstance(score, int | float):
            score_text += t(" (distance {distance})", distance=f"{float(score):.3f}")
    else:
        score_text = (
            t(" · score {score}", score=f"{float(score):.3f}") if isinstance(score, int | float) else ""
        )
    content = doc.get("text") or doc.get("page_content") or doc.get("content") or ""
    return f"**[{index}]** {title}{score_text}\n\n{content}"


def render(docs: list[Any], key: str = "") -> None:
    """The sources; signed in, files come through the backend with the user's token (a plain link
    from the browser carries none), so each gets a download button instead of a link."""
    if not docs:
        return
    from webui import account
    from webui.session import client

    signed_in = account.token() is not None
    api = client()
    with st.expander(t("Sources ({count})", count=len(docs)), expanded=False, icon=":material/menu_book:"):
        for index, doc in enumerate(docs, start=1):
            st.markdown(_doc_markdown(index, doc, links=not signed_in))
            kb_file = _kb_file(doc.get("url")) if signed_in and isinstance(doc, dict) else None
            if kb_file is not None and key:
                st.download_button(
                    t("Download"),
                    data=partial(_file_content, api, *kb_file),
                    file_name=kb_file[1],
                    key=f"source_{key}_{index}",
                    icon=":material/download:",
                )
            if index < len(docs):
                st.divider()


def render_tools(tools: list[Any]) -> None:
    if not tools:
        return
    with st.expander(t("Tool steps ({count})", count=len(tools)), expanded=False, icon=":material/build:"):
        for step in tools:
            st.markdown(translate_step(step) if isinstance(step, str) else f"```json\n{step}\n```")
