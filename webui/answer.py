"""How one answer is assembled from the chat endpoints' stream events, whatever the chat mode."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from webui.i18n import N_, t

# Tool-call protocol markup a model may echo into its answer: never an answer, never shown.
_MARKUP_BLOCK = re.compile(r"<(tool_call|tool_response|tools)>.*?(?:</\1>|\Z)", re.S)
_MARKUP_TAG = re.compile(r"</?(?:tool_call|tool_response|tools)>")
# Chatchat's agent step lines (the backend's wire format) and what the page calls them.
STEP_LABELS = {
    "工具名称": N_("Tool"),
    "工具状态": N_("Status"),
    "工具输入": N_("Input"),
    "工具输出": N_("Output"),
}
STEP_STATES = {"调用成功": N_("succeeded"), "调用失败": N_("failed")}


def scrub(text: str) -> str:
    """The answer without tool-protocol markup (``<tool_response>`` blocks and stray tags)."""
    if "<tool" not in text and "</tool" not in text:
        return text
    return _MARKUP_TAG.sub("", _MARKUP_BLOCK.sub("", text)).strip()


def translate_step(entry: str) -> str:
    """An agent step's lines with their Chatchat labels in the page's language."""
    lines = []
    for line in entry.split("  \n"):
        label, sep, value = line.partition(": ")
        if sep and label in STEP_LABELS:
            value = t(STEP_STATES[value]) if value in STEP_STATES else value
            line = f"{t(STEP_LABELS[label])}: {value}"
        lines.append(line)
    return "  \n".join(lines)


def step_lines(step: dict[str, Any]) -> list[str]:
    """A stored agent step as the lines its live ``tools`` event carried (Chatchat's format).

    ``step`` holds ``index``, ``tool`` (None for a reply that was no valid call), ``input``,
    ``output`` and ``ok``, as ``/chat/agent_chat`` stores it.
    """
    tool = step.get("tool")
    return [
        f"工具名称: {tool if tool is not None else '(invalid call)'}",
        f"工具状态: {'调用成功' if step.get('ok') else '调用失败'}",
        f"工具输入: {step.get('input', '')}",
        f"工具输出: {step.get('output', '')}",
    ]


def step_entry(lines: Iterable[Any]) -> str:
    """One agent step as shown under the answer: its lines, one per row."""
    return "  \n".join(map(str, lines))


def absorb(reply: dict[str, Any], event: dict[str, Any]) -> str:
    """Fold one stream event into the reply; return the text to show now (may be empty).

    Events: ``text`` (LLM chat) or ``answer`` chunks, ``docs``/``sources`` (cited sources),
    ``tools`` (one agent step as Chatchat's lines), ``final_answer`` (the agent's last word).
    The first event of every mode carries ``message_id``, which feedback needs.
    """
    reply["message_id"] = event.get("message_id") or reply.get("message_id")
    if event.get("sources") or event.get("docs"):
        reply["docs"] = list(event.get("sources") or event["docs"])  # structured sources when sent
    if event.get("tools"):
        step = event["tools"]
        reply["tools"].append(step_entry(step) if isinstance(step, list) else str(step))
    if event.get("final_answer"):
        reply["final"] = str(event["final_answer"])
    chunk = event.get("text", event.get("answer")) or ""
    reply["content"] += chunk
    return chunk
