"""Chatchat's ``docs`` strings, rendered from the structured sources an answer cited.

Knowledge-base, file and search chat keep their sources as data (``Source``, ``WebSource``), store
them so, and render Chatchat's markdown strings from them here, once: ``出处 [n] [name](link)``
then the passage, or the notice that nothing was found and the answer is the model's own.
"""

from __future__ import annotations

NOTHING_FOUND = "<span style='color:red'>未找到相关文档,该回答为大模型自身能力解答！</span>"


def chatchat_doc(index: int, name: str, url: str, text: str) -> str:
    """One cited source as Chatchat 0.2 writes it (its knowledge-base and search chats alike)."""
    return f"出处 [{index}] [{name}]({url}) \n\n{text}\n\n"


def chatchat_docs(docs: list[str]) -> list[str]:
    """The ``docs`` of an answer: its sources, or the notice when it cites none."""
    return docs or [NOTHING_FOUND]
