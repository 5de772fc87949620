"""How one answer is assembled from the chat endpoints' stream events, whatever the chat mode."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


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
