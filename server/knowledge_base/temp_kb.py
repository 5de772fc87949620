"""Temporary knowledge bases for file chat: uploaded files indexed in memory under an id.

Each expires after ``kb.temp_expiry_s`` without use; at most ``kb.temp_max_kbs`` are kept (the
least recently used goes first) and each holds at most ``kb.temp_max_mb`` of files.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from dataclasses import dataclass, field

from configs import Settings
from server.knowledge_base.embeddings import EmbeddingPool
from server.knowledge_base.errors import KnowledgeBaseNotFound, LoaderError, PayloadTooLarge
from server.knowledge_base.faiss_store import FaissStore
from server.knowledge_base.paths import KbPaths, safe_file_name
from server.knowledge_base.retrieval import SearchHit, search
from server.knowledge_base.service import SplitOptions, chunk_metadata, prepare_chunks


@dataclass
class TempKb:
    id: str
    embed_model: str
    store: FaissStore
    size: int = 0
    files: list[str] = field(default_factory=list)
    used: float = field(default_factory=time.monotonic)


class TempKnowledgeBases:
    def __init__(self, settings: Settings, embeddings: EmbeddingPool) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.paths = KbPaths(settings.data_dir)
        self._kbs: dict[str, TempKb] = {}
        self._lock = asyncio.Lock()

    def _expire(self) -> None:
        now = time.monotonic()
        for kb_id in [k for k, kb in self._kbs.items() if now - kb.used > self.settings.kb.temp_expiry_s]:
            self._drop(kb_id)
        while len(self._kbs) > self.settings.kb.temp_max_kbs:
            self._drop(min(self._kbs.values(), key=lambda kb: kb.used).id)

    def _drop(self, kb_id: str) -> None:
        self._kbs.pop(kb_id, None)
        shutil.rmtree(self.paths.temp_dir(kb_id), ignore_errors=True)

    def get(self, kb_id: str) -> TempKb:
        self.paths.temp_dir(kb_id)  # validates the id
        self._expire()
        kb = self._kbs.get(kb_id)
        if kb is None:
            raise KnowledgeBaseNotFound(f"temporary knowledge {kb_id!r} does not exist or has expired")
        kb.used = time.monotonic()
        return kb

    async def add(
        self, files: list[tuple[str, bytes]], options: SplitOptions, prev_id: str | None = None
    ) -> tuple[str, dict[str, str]]:
        """Index the uploads into a new temporary KB (or ``prev_id``'s); returns its id and failures."""
        names = [safe_file_name(name) for name, _ in files]
        async with self._lock:
            kb = self.get(prev_id) if prev_id else None
            if kb is None:
                kb_id = uuid.uuid4().hex
                kb = TempKb(kb_id, self.settings.default_embed_model, FaissStore(None))
            limit = int(self.settings.kb.temp_max_mb * 1024 * 1024)
            total = kb.size + sum(len(data) for _, data in files)
            if total > limit:
                raise PayloadTooLarge(
                    f"the files of one file chat may hold at most {self.settings.kb.temp_max_mb:g} MB"
                )
            self._kbs[kb.id] = kb
            self._expire()
        directory = self.paths.temp_dir(kb.id)
        directory.mkdir(parents=True, exist_ok=True)
        failed: dict[str, str] = {}
        for name, (_, data) in zip(names, files, strict=True):
            path = self.paths.temp_file_path(kb.id, name)
            await asyncio.to_thread(path.write_bytes, data)
            try:
                chunks, _, _ = await asyncio.to_thread(prepare_chunks, path, name, options)
            except LoaderError as exc:
                failed[name] = str(exc)
                continue
            vectors = await self.embeddings.aembed_documents(kb.embed_model, [c.text for c in chunks])
            kb.store.add([c.text for c in chunks], [chunk_metadata(name, c) for c in chunks], vectors)
            kb.size += len(data)
            kb.files.append(name)
        return kb.id, failed

    async def search(self, kb_id: str, query: str, *, top_k: int, score_threshold: float) -> list[SearchHit]:
        kb = self.get(kb_id)
        vector = await self.embeddings.aembed_query(kb.embed_model, query)
        return await asyncio.to_thread(
            search, kb.store, vector, query, top_k=top_k, score_threshold=score_threshold
        )

    def file_path(self, kb_id: str, file_name: str):  # noqa: ANN201
        self.get(kb_id)
        return self.paths.temp_file_path(kb_id, file_name)

    def clear(self) -> None:
        for kb_id in list(self._kbs):
            self._drop(kb_id)
