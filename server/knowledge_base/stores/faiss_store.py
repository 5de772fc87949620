"""The FAISS store: ``IndexIDMap2`` + inner product on normalised vectors, files in the KB's folder.

The index is FAISS's own binary format and the chunks (text, metadata, keyword tokens) are JSON
beside it; nothing is ever unpickled. ``docs.json`` is the commit point: a save writes a new
``index-<generation>.faiss`` first, then replaces ``docs.json`` (which names it) in one rename,
so a crash leaves either the old state or the new one, never half of each.

Several processes may open the same folder (a CLI next to the backend): each re-reads the files
when ``docs.json`` changed under it, and writers hold the knowledge base's write lock, which
spans processes. Keyword search is a BM25 index built from the stored tokens, saved as
``bm25-<generation>`` and rebuilt in the background after a change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from server.knowledge_base.bm25_index import Bm25Index, tokenize
from server.knowledge_base.stores.base import (
    ChunkFilter,
    ChunkIn,
    ScoredChunk,
    StoreCapabilities,
    StoredChunk,
    Undo,
    VectorStore,
)

logger = logging.getLogger(__name__)

# One query at a time is memory-bound: OpenMP's thread hand-off costs more than a second thread
# saves (100k x 512 flat search on 2 cores: p50 89 ms with 2 threads, 16 ms with 1).
faiss.omp_set_num_threads(1)

DOCS_FILE = "docs.json"
LEGACY_INDEX_FILE = "index.faiss"
FORMAT_VERSION = 2
SYNC_KEYWORD_REBUILD_MAX = 5000  # below this many chunks a stale keyword index is rebuilt before answering
_LOAD_ATTEMPTS = 5

Removed = tuple[str, dict[str, Any], np.ndarray]  # id, stored doc, vector: what an undo puts back


def _write_then_rename(path: Path, write) -> None:  # noqa: ANN001 - write(temp path) fills the file
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


class FaissStore(VectorStore):
    """One collection's chunks; ``directory=None`` keeps them in memory only."""

    vs_type = "faiss"
    capabilities = StoreCapabilities(keyword_search=True, vectors=True, listing=True)

    def __init__(self, directory: Path | None, collection: str = "") -> None:
        self.directory = directory
        self.collection = collection
        self._mutex = threading.RLock()  # searches run in threads while a write may be saving
        self._index: faiss.IndexIDMap2 | None = None
        self._docs: dict[int, dict[str, Any]] = {}  # internal key -> {"id", "text", "metadata", "tokens"}
        self._keys: dict[str, int] = {}  # chunk id -> internal key
        self._next_key = 1
        self._generation = uuid.uuid4().hex
        self._signature: tuple[int, int, int] | None = None
        self._bm25: Bm25Index | None = None
        self._bm25_lock = asyncio.Lock()
        self._bm25_task: asyncio.Task[None] | None = None
        self._dropped = False
        with self._mutex:
            self._refresh()

    # ---- files ----------------------------------------------------------------------------

    def _docs_path(self) -> Path | None:
        return self.directory / DOCS_FILE if self.directory is not None else None

    def _current_signature(self) -> tuple[int, int, int] | None:
        path = self._docs_path()
        try:
            stat = path.stat() if path is not None else None
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino) if stat else None

    def _refresh(self) -> None:
        """Re-read the files if another process (or object) saved since we read them."""
        if self.directory is None:
            return
        for attempt in range(_LOAD_ATTEMPTS):
            signature = self._current_signature()
            if signature == self._signature:
                return
            try:
                self._load(signature)
                return
            except FileNotFoundError:  # a concurrent save replaced the files between two reads
                if attempt == _LOAD_ATTEMPTS - 1:
                    raise

    def _load(self, signature: tuple[int, int, int] | None) -> None:
        assert self.directory is not None
        self._index, self._docs, self._keys, self._next_key = None, {}, {}, 1
        self._signature = signature
        if signature is None:
            return
        data = json.loads((self.directory / DOCS_FILE).read_text(encoding="utf-8"))
        if data.get("version") == FORMAT_VERSION:
            if self.collection and data.get("collection") not in (None, self.collection):
                logger.warning("ignoring %s: it belongs to another collection", self.directory)
                return
            index_file = data["index_file"]
            docs = {int(k): v for k, v in data["docs"].items()}
            self._generation = data["generation"]
            self._next_key = int(data["next_key"])
        else:  # the first format: ids were the FAISS keys themselves
            index_file = LEGACY_INDEX_FILE
            docs = {int(k): {"id": k, **v} for k, v in data["docs"].items()}
            self._generation = f"legacy-{signature[0]}"
            self._next_key = int(data["next_id"])
        if docs:
            self._index = faiss.read_index(str(self.directory / index_file))  # type: ignore[assignment]  # the IDMap2 we saved
        self._docs = docs
        self._keys = {doc["id"]: key for key, doc in docs.items()}

    def _save(self) -> None:
        self._generation = uuid.uuid4().hex
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        index_file = f"index-{self._generation}.faiss"
        if self._index is not None and self._docs:
            _write_then_rename(self.directory / index_file, lambda p: faiss.write_index(self._index, str(p)))
        payload = {
            "version": FORMAT_VERSION,
            "collection": self.collection,
            "generation": self._generation,
            "index_file": index_file,
            "next_key": self._next_key,
            "docs": {str(k): v for k, v in self._docs.items()},
        }
        _write_then_rename(
            self.directory / DOCS_FILE,
            lambda p: p.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8"),
        )
        self._signature = self._current_signature()
        for old in self.directory.iterdir():  # superseded generations
            stale_index = old.suffix == ".faiss" and old.name != index_file
            stale_bm25 = old.name.startswith("bm25-") and old.name != f"bm25-{self._generation}"
            if stale_index:
                old.unlink(missing_ok=True)
            elif stale_bm25:
                shutil.rmtree(old, ignore_errors=True)

    # ---- in-memory changes ----------------------------------------------------------------

    def _remove(self, chunk_id: str) -> Removed | None:
        key = self._keys.pop(chunk_id, None)
        if key is None:
            return None
        assert self._index is not None
        vector = self._index.reconstruct(key)
        self._index.remove_ids(np.asarray([key], dtype=np.int64))  # type: ignore[arg-type]  # faiss wraps ids
        return chunk_id, self._docs.pop(key), vector

    def _add(self, chunk_id: str, doc: dict[str, Any], vector: np.ndarray) -> None:
        vector = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        if self._index is None:
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(vector.shape[1]))
        if vector.shape[1] != self._index.d:
            raise ValueError(f"vector size {vector.shape[1]} does not match the index ({self._index.d})")
        key = self._next_key
        self._next_key += 1
        self._index.add_with_ids(vector, np.asarray([key], dtype=np.int64))
        self._docs[key] = doc
        self._keys[chunk_id] = key

    def _revert(self, added: Sequence[str], removed: Sequence[Removed]) -> None:
        for chunk_id in added:
            self._remove(chunk_id)
        for chunk_id, doc, vector in removed:
            self._add(chunk_id, doc, vector)

    def _write(self, delete: Sequence[str], upsert: Sequence[ChunkIn]) -> tuple[list[str], list[Removed]]:
        with self._mutex:
            self._refresh()
            removed: list[Removed] = []
            added: list[str] = []
            try:
                for chunk_id in [*delete, *(c.id for c in upsert)]:
                    if (gone := self._remove(chunk_id)) is not None:
                        removed.append(gone)
                for chunk in upsert:
                    doc = {
                        "id": chunk.id,
                        "text": chunk.text,
                        "metadata": chunk.metadata,
                        "tokens": chunk.tokens,
                    }
                    self._add(chunk.id, doc, chunk.vector)
                    added.append(chunk.id)
                self._save()
            except BaseException:
                self._revert(added, removed)
                raise
            return added, removed

    def _undo(self, added: Sequence[str], removed: Sequence[Removed]) -> None:
        with self._mutex:
            self._refresh()
            self._revert(added, removed)
            self._save()

    # ---- VectorStore ----------------------------------------------------------------------

    async def write(
        self,
        session: AsyncSession | None = None,
        *,
        delete: Sequence[str] = (),
        upsert: Sequence[ChunkIn] = (),
    ) -> Undo:
        added, removed = await asyncio.to_thread(self._write, list(delete), list(upsert))
        self._keywords_changed()

        async def undo() -> None:
            await asyncio.to_thread(self._undo, added, removed)
            self._keywords_changed()

        return undo

    def _get(self, ids: Sequence[str], vectors: bool = False) -> list[StoredChunk]:
        with self._mutex:
            self._refresh()
            out = []
            for chunk_id in ids:
                key = self._keys.get(chunk_id)
                if key is None:
                    continue
                doc = self._docs[key]
                vector = self._index.reconstruct(key) if vectors and self._index is not None else None
                out.append(StoredChunk(chunk_id, doc["text"], doc["metadata"], vector, doc.get("tokens")))
            return out

    async def get(self, ids: Sequence[str]) -> list[StoredChunk]:
        return await asyncio.to_thread(self._get, list(ids))

    def _allowed_keys(self, where: ChunkFilter) -> np.ndarray:
        return np.fromiter((k for k, d in self._docs.items() if where.matches(d["metadata"])), dtype=np.int64)

    def _search(self, vector: np.ndarray, k: int, where: ChunkFilter | None) -> list[ScoredChunk]:
        with self._mutex:
            self._refresh()
            if self._index is None or self._index.ntotal == 0 or k <= 0:
                return []
            params, limit = None, self._index.ntotal
            if where is not None and not where.empty:
                allowed = self._allowed_keys(where)
                if not len(allowed):
                    return []
                params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))  # type: ignore[call-arg]  # SWIG kwargs
                limit = len(allowed)
            query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
            sims, keys = self._index.search(query, min(k, limit), params=params)
            hits = []
            for sim, key in zip(sims[0], keys[0], strict=True):
                doc = self._docs.get(int(key)) if key >= 0 else None
                if doc is not None:
                    hits.append(
                        ScoredChunk(
                            doc["id"], doc["text"], doc["metadata"], float(1.0 - sim), None, ["vector"]
                        )
                    )
            return hits

    async def search(
        self, vector: np.ndarray, k: int, *, where: ChunkFilter | None = None
    ) -> list[ScoredChunk]:
        return await asyncio.to_thread(self._search, vector, k, where)

    def _distances(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        with self._mutex:
            self._refresh()
            if self._index is None:
                return {}
            out = {}
            for chunk_id in ids:
                key = self._keys.get(chunk_id)
                if key is not None:
                    out[chunk_id] = float(1.0 - float(np.dot(self._index.reconstruct(key), vector)))
            return out

    async def distances(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        return await asyncio.to_thread(self._distances, vector, list(ids))

    async def iterate(
        self, *, where: ChunkFilter | None = None, page_size: int = 1000, vectors: bool = False
    ) -> AsyncIterator[list[StoredChunk]]:
        def ids() -> list[str]:
            with self._mutex:
                self._refresh()
                return [d["id"] for d in self._docs.values() if where is None or where.matches(d["metadata"])]

        every = await asyncio.to_thread(ids)
        for start in range(0, len(every), page_size):
            page = await asyncio.to_thread(self._get, every[start : start + page_size], vectors)
            if page:
                yield page

    async def count(self) -> int:
        def count() -> int:
            with self._mutex:
                self._refresh()
                return len(self._docs)

        return await asyncio.to_thread(count)

    async def drop(self, session: AsyncSession | None = None) -> None:
        self._dropped = True
        if self._bm25_task is not None:
            self._bm25_task.cancel()

        def drop() -> None:
            with self._mutex:
                self._index, self._docs, self._keys, self._bm25 = None, {}, {}, None
                if self.directory is not None:
                    shutil.rmtree(self.directory, ignore_errors=True)
                self._signature = None

        await asyncio.to_thread(drop)

    async def close(self) -> None:
        if self._bm25_task is not None:
            self._bm25_task.cancel()

    # ---- keywords -------------------------------------------------------------------------

    def _bm25_dir(self, generation: str) -> Path | None:
        return self.directory / f"bm25-{generation}" if self.directory is not None else None

    def _build_bm25(self) -> Bm25Index:
        with self._mutex:
            self._refresh()
            generation = self._generation
            docs = list(self._docs.values())
        directory = self._bm25_dir(generation)
        if directory is not None and (loaded := Bm25Index.load(directory)) is not None:
            return loaded
        ids = [d["id"] for d in docs]
        tokens = [d["tokens"] if d.get("tokens") is not None else tokenize(d["text"]) for d in docs]
        index = Bm25Index.build(ids, tokens, generation)
        with self._mutex:
            if directory is not None and generation == self._generation and not self._dropped:
                index.save(directory)
        return index

    def _keywords_changed(self) -> None:
        """After a write: rebuild the keyword index in the background if this process uses one."""
        if self._bm25 is not None and not self._dropped:
            self._schedule_rebuild()

    def _schedule_rebuild(self) -> None:
        if self._bm25_task is None or self._bm25_task.done():
            self._bm25_task = asyncio.get_running_loop().create_task(self._rebuild_loop())

    async def _rebuild_loop(self) -> None:
        try:
            while not self._dropped:
                index = await asyncio.to_thread(self._build_bm25)
                self._bm25 = index
                with self._mutex:
                    self._refresh()
                    if index.generation == self._generation:
                        return
        except asyncio.CancelledError:
            raise
        except Exception:  # a background job must log, not vanish
            logger.exception("rebuilding the keyword index of %s failed", self.directory)

    async def _keywords(self) -> Bm25Index:
        async with self._bm25_lock:
            with self._mutex:
                self._refresh()
                generation, size = self._generation, len(self._docs)
            current = self._bm25
            if current is not None and current.generation == generation:
                return current
            if current is not None and size > SYNC_KEYWORD_REBUILD_MAX:
                self._schedule_rebuild()  # answer from the last index meanwhile; its ids are never reused
                return current
            self._bm25 = await asyncio.to_thread(self._build_bm25)
            return self._bm25

    async def keyword_search(
        self, tokens: Sequence[str], k: int, *, where: ChunkFilter | None = None
    ) -> list[tuple[str, float]]:
        index = await self._keywords()

        def allowed() -> list[str] | None:
            if where is None or where.empty:
                return None
            with self._mutex:
                return [d["id"] for d in self._docs.values() if where.matches(d["metadata"])]

        return await asyncio.to_thread(lambda: index.search(tokens, k, allowed=allowed()))
