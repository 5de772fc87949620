"""How one answer is assembled from the chat endpoints' stream events, whatever the chat mode."""

from __future__ import annotations

from typing import Any


def absorb(reply: dict[str, Any], event: dict[str, Any]) -> str:
    """Fold one stream event into the reply; return the text to show now (may be empty).

    Events: ``text`` (LLM chat) or ``answer`` chunks, ``docs``/``sources`` (cited sources),
    ``tools`` (one agent step as Chatchat's lines), ``final_answer`` (the agent's last word).
    """
    reply["message_id"] = event.get("message_id") or reply.get("message_id")
    if event.get("sources") or event.get("docs"):
        reply["docs"] = list(event.get("sources") or event["docs"])  # structured sources when sent
    if event.get("tools"):
        step = event["tools"]
        reply["tools"].append("  \n".join(map(str, step)) if isinstance(step, list) else str(step))
    if event.get("final_answer"):
        reply["final"] = str(event["final_answer"])
    chunk = event.get("text", event.get("answer")) or ""
    reply["content"] += chunk
    return chunk
