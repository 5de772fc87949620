"""BM25 over jieba tokens (bm25s), saved beside the vector index and rebuilt when the KB changes.

bm25s has no incremental add, so an index is built from all chunks at once, in the background
after a change, and queries only ever read the last built one (never a per-query rebuild).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
from pathlib import Path

import bm25s
import jieba

jieba.setLogLevel(60)
logger = logging.getLogger(__name__)

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
    def __init__(self, retriever: bm25s.BM25 | None, ids: list[str]) -> None:
        self._retriever = retriever
        self.ids = ids

    @classmethod
    def build(cls, ids: list[str], texts: list[str]) -> Bm25Index:
        if not ids:
            return cls(None, [])
        retriever = bm25s.BM25()
        retriever.index([tokenize(t) or ["\u0000"] for t in texts], show_progress=False)
        return cls(retriever, list(ids))

    def save(self, directory: Path) -> None:
        temp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        if self._retriever is not None:
            self._retriever.save(str(temp))
        (temp / IDS_FILE).write_text(json.dumps(self.ids), encoding="utf-8")
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            directory.rename(old)
        temp.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> Bm25Index | None:
        if not (directory / IDS_FILE).is_file():
            return None
        ids = json.loads((directory / IDS_FILE).read_text(encoding="utf-8"))
        if not ids:
            return cls(None, [])
        return cls(bm25s.BM25.load(str(directory), mmap=True), ids)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        if self._retriever is None or not self.ids:
            return []
        vocab = self._retriever.vocab_dict
        tokens = [t for t in tokenize(query) if t in vocab]
        if not tokens:
            return []
        docs, scores = self._retriever.retrieve(
            [tokens], k=min(k, len(self.ids)), show_progress=False, n_threads=1
        )
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]


class Bm25Manager:
    """The loaded BM25 index of each knowledge base, and its background rebuilds."""

    def __init__(self) -> None:
        self._indexes: dict[Path, Bm25Index] = {}
        self._lock = threading.Lock()

    def get(self, directory: Path) -> Bm25Index | None:
        with self._lock:
            if directory not in self._indexes:
                loaded = Bm25Index.load(directory)
                if loaded is None:
                    return None
                self._indexes[directory] = loaded
            return self._indexes[directory]

    def rebuild(self, directory: Path, ids: list[str], texts: list[str]) -> Bm25Index:
        index = Bm25Index.build(ids, texts)
        index.save(directory)
        with self._lock:
            self._indexes[directory] = index
        return index

    def forget(self, directory: Path) -> None:
        with self._lock:
            self._indexes.pop(directory, None)
