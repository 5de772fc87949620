"""Follow-up questions made standalone before retrieval (the condense-question step).

"When was it founded?" finds nothing in a knowledge base: the subject is in the history. With
history, the chat model rewrites the question with the ``condense_question`` prompt template
(editable like the others); retrieval uses the rewrite and the answer reports it.

The model's output is checked before it is used: it must be one line that keeps most of the
question's words and adds some (the subject it resolved). A small model often fails that (it
repeats the question, answers it, or asks another); then the query is built without a model:
the last question the user asked, then this one, so the subject is in the query and this
question's words still pick the fact (``rewrite_method: "history"``). bench/retrieval.py
measures both against the question alone.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from configs import Settings
from server.api.schemas.chat import HistoryMessage
from server.api.services.llm_client import LLMClient
from server.api.services.prompts import PromptTemplates
from server.knowledge_base.bm25_index import tokenize

CONDENSE_TYPE = "condense_question"
HISTORY_MESSAGES = 6  # the last turns the rewrite sees (three exchanges)
TURN_CHARS = 600  # of each turn; a long answer's start says what it was about
REWRITE_MAX_TOKENS = 96
_LABEL = re.compile(
    r"^\s*(standalone question|rewritten question|last question|question|rewrite|user|"
    r"独立问题|改写后的问题|问题)\s*[:：]\s*",
    re.IGNORECASE,
)
_QUOTES = "\"'“”‘’「」`"


@dataclass(frozen=True)
class RewrittenQuery:
    """The question as asked and the query retrieval uses (the same when nothing was rewritten)."""

    question: str
    query: str
    method: str = ""  # "model" (the condense template's answer) or "history" (built without a model)

    @property
    def rewritten(self) -> bool:
        return self.query != self.question

    def event(self) -> dict[str, Any]:
        """What the answer's last event and the stored message carry."""
        return {"rewritten_query": self.query, "rewrite_method": self.method} if self.rewritten else {}


History = Sequence[HistoryMessage] | Sequence[dict[str, str]]


def _turns(history: History) -> list[tuple[str, str]]:
    """(role, content) of each message, whether it came as a request model or a plain dict."""
    out: list[tuple[str, str]] = []
    for message in history:
        if isinstance(message, HistoryMessage):
            out.append((message.role, message.content))
        else:
            out.append((str(message.get("role", "")), str(message.get("content", ""))))
    return out


def history_text(history: History) -> str:
    """The last turns as ``User: ...`` / ``Assistant: ...`` lines, each turn cut to TURN_CHARS."""
    lines = []
    for role, content in _turns(history)[-HISTORY_MESSAGES:]:
        if role not in ("user", "assistant") or not content.strip():
            continue
        text = " ".join(content.split())[:TURN_CHARS]
        lines.append(f"{'User' if role == 'user' else 'Assistant'}: {text}")
    return "\n".join(lines)


def clean_rewrite(output: str, question: str) -> str | None:
    """The model's rewrite as a query, or None when it is not one (empty, a paragraph, runaway)."""
    line = next((ln.strip() for ln in output.splitlines() if ln.strip()), "")
    line = _LABEL.sub("", line).strip().strip(_QUOTES).strip()
    if not line:
        return None
    if len(line) > max(4 * len(question), len(question) + 200):
        return None
    return line


def keeps_the_question(rewrite: str, question: str) -> bool:
    """The rewrite keeps at least half of the question's words and adds at least one of its own."""
    asked, got = set(tokenize(question)), set(tokenize(rewrite))
    if not got - asked:
        return False
    return not asked or len(asked & got) / len(asked) >= 0.5


def history_query(question: str, history: History) -> str:
    """The model-free standalone query: this question twice, then the user's last question.

    The earlier question supplies what "it" is, but it also asks for something else; with the
    follow-up written twice its words outweigh the borrowed ones in the keyword and the vector
    ranking alike (``bench/retrieval.py --parts rag``: follow-up recall@1 0.40 -> 0.55, recall@5
    0.88 -> 0.93 against the plain concatenation).
    """
    for role, content in reversed(_turns(history)):
        if role == "user" and content.strip():
            return f"{question} {question} {' '.join(content.split())[:TURN_CHARS]}"
    return question


class QueryRewriter:
    def __init__(self, settings: Settings, llm: LLMClient, prompts: PromptTemplates) -> None:
        self._settings = settings
        self._llm = llm
        self._prompts = prompts

    def wanted(self, requested: bool | None, history: list[Any]) -> bool:
        enabled = self._settings.kb.rewrite_query if requested is None else requested
        return enabled and bool(history_text(history))

    def prompt(self, question: str, history: list[Any]) -> str:
        return self._prompts.render(
            CONDENSE_TYPE, "default", history=history_text(history), question=question
        )

    async def rewrite(
        self, question: str, history: list[Any], model: str, requested: bool | None = None
    ) -> RewrittenQuery:
        """The standalone query for ``question`` (``question`` itself without history or when off)."""
        if not self.wanted(requested, history):
            return RewrittenQuery(question, question)
        output = await self._llm.chat(
            model,
            [{"role": "user", "content": self.prompt(question, history)}],
            temperature=0.0,
            max_tokens=REWRITE_MAX_TOKENS,
        )
        return await asyncio.to_thread(choose, question, history, output)


def choose(question: str, history: list[Any], output: str) -> RewrittenQuery:
    """The model's rewrite when it passes the checks, else the query built from the history."""
    rewrite = clean_rewrite(output, question)
    if rewrite is not None and keeps_the_question(rewrite, question):
        return RewrittenQuery(question, rewrite, "model")
    return RewrittenQuery(question, history_query(question, history), "history")
