"""BM25 over jieba tokens (bm25s): the keyword index of stores that have none of their own.

bm25s has no incremental add, so an index is built from all chunks at once (from the tokens
stored with each chunk, so a rebuild never re-tokenises) and belongs to exactly one state of
one collection: whoever holds it also holds the store generation it was built from, and a
dropped collection takes its index with it. Nothing here is cached by path or shared.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import bm25s
import jieba
import numpy as np

jieba.setLogLevel(60)

IDS_FILE = "ids.json"
_WORD = re.compile(r"\w", re.UNICODE)


STOPWORDS = frozenset(
    "的 了 是 在 和 与 或 及 我 你 他 她 它 我们 你们 他们 这 那 这个 那个 吗 呢 吧 啊 么 "
    "什么 怎么 怎样 如何 哪 哪里 哪些 多少 几 有 没有 就 也 都 而 并 被 把 对 从 到 为 "
    "以 之 于 上 下 中 会 能 可以 要 需要 应该 一个 个 后 前 时 "
    "a an the and or of to in on at by for with from as is are was were be been being do does did what which "
    "who whom when where why how i you he she it we they my your our their me us them this that these those "
    "can could should would will shall may might must not no if then than so".split()
)


def tokenize(text: str) -> list[str]:
    """jieba search-mode tokens, lower-cased, without whitespace, punctuation and stop words."""
    tokens = (t.lower() for t in jieba.lcut_for_search(text))
    return [t for t in tokens if _WORD.search(t) and t not in STOPWORDS]


class Bm25Index:
    """One built index: ``ids[i]`` is the chunk of bm25s document ``i``."""

    def __init__(self, retriever: bm25s.BM25 | None, ids: list[str], generation: str = "") -> None:
        self._retriever = retriever
        self.ids = ids
        self.generation = generation
        self._position = {doc_id: i for i, doc_id in enumerate(ids)}

    @classmethod
    def build(cls, ids: Sequence[str], tokens: Sequence[Sequence[str]], generation: str = "") -> Bm25Index:
        if not ids:
            return cls(None, [], generation)
        retriever = bm25s.BM25()
        retriever.index([list(t) or ["\u0000"] for t in tokens], show_progress=False)
        return cls(retriever, list(ids), generation)

    def save(self, directory: Path) -> None:
        """Write into ``directory`` (which must not exist yet) through a temporary sibling."""
        temp = directory.with_name(f".{directory.name}.{uuid.uuid4().hex}.tmp")
        temp.mkdir(parents=True)
        try:
            if self._retriever is not None:
                self._retriever.save(str(temp))
            (temp / IDS_FILE).write_text(
                json.dumps({"ids": self.ids, "generation": self.generation}), encoding="utf-8"
            )
            temp.rename(directory)  # atomic; fails if another process saved the same state first
        except OSError:
            if not (directory / IDS_FILE).is_file():
                raise
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> Bm25Index | None:
        try:
            data = json.loads((directory / IDS_FILE).read_text(encoding="utf-8"))
            if not data["ids"]:
                return cls(None, [], data["generation"])
            return cls(bm25s.BM25.load(str(directory), mmap=True), data["ids"], data["generation"])
        except (OSError, ValueError, KeyError):
            return None

    def search(
        self, tokens: Sequence[str], k: int, *, allowed: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """(id, BM25 score) best first; ``allowed`` restricts the candidates to those ids."""
        if self._retriever is None or not self.ids:
            return []
        vocab = self._retriever.vocab_dict
        query = [t for t in tokens if t in vocab]
        if not query:
            return []
        mask = None
        if allowed is not None:
            mask = np.zeros(len(self.ids), dtype=np.float32)
            positions = [self._position[i] for i in allowed if i in self._position]
            if not positions:
                return []
            mask[positions] = 1.0
        docs, scores = self._retriever.retrieve(
            [query], k=min(k, len(self.ids)), show_progress=False, n_threads=1, weight_mask=mask
        )
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
