"""What an exported answer shows under its text: the sources it cited, or the tools the agent used.

Read from the stored ``meta``: the structured ``sources`` (a knowledge-base chunk's ``file_name``,
a search result's ``title``, and the link), and an agent's ``tools`` steps. Answers stored before
search sources were kept structured have only Chatchat's ``docs`` strings: their first lines
(``出处 [n] [title](link)``) are listed as they are.
"""

from __future__ import annotations

from typing import Any

from server.api.services.citations import NOTHING_FOUND

TOOL_OUTPUT_CHARS = 120


def _link(title: str, url: str) -> str:
    title = title.replace("[", "\\[").replace("]", "\\]") or url
    return f"[{title}]({url})" if url else title


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def source_items(meta: dict[str, Any]) -> list[str]:
    """One list item per cited source: its number, and its file name or title linked."""
    sources = meta.get("sources")
    if isinstance(sources, list) and sources:
        items: list[str] = []
        for n, source in enumerate(sources, start=1):
            if isinstance(source, dict):
                name = str(source.get("file_name") or source.get("title") or "")
                items.append(f"- [{source.get('index', n)}] {_link(name, str(source.get('url') or ''))}")
        return items
    headings = [str(doc).strip().partition("\n")[0] for doc in meta.get("docs") or [] if doc != NOTHING_FOUND]
    return [f"- {heading.strip()}" for heading in headings if heading.strip()]


def tool_items(meta: dict[str, Any]) -> list[str]:
    """One list item per agent step: the tool, its input and (shortened) output."""
    items: list[str] = []
    for n, step in enumerate(meta.get("tools") or [], start=1):
        if not isinstance(step, dict):
            items.append(f"{n}. {_one_line(str(step), TOOL_OUTPUT_CHARS)}")
            continue
        tool = step.get("tool") or "(invalid call)"
        status = "" if step.get("ok") else " (failed)"
        tool_input = _one_line(str(step.get("input", "")), TOOL_OUTPUT_CHARS)
        output = _one_line(str(step.get("output", "")), TOOL_OUTPUT_CHARS)
        items.append(f"{n}. {tool}{status}{': ' + tool_input if tool_input else ''} → {output}")
    return items


def answer_notes(meta: dict[str, Any] | None) -> list[str]:
    """Markdown lines to put under an exported answer (none for a plain chat answer)."""
    meta = meta if isinstance(meta, dict) else {}
    lines: list[str] = []
    sources = source_items(meta)
    if sources:
        lines += ["Sources:", "", *sources, ""]
    tools = tool_items(meta)
    if tools:
        lines += ["Tools used:", "", *tools, ""]
    return lines
