"""pgvector searches cost one statement on a warm pool, and survive a connection the server dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

from configs import Settings
from server.knowledge_base.embeddings import EmbeddingPool, normalise
from server.knowledge_base.retrieval import search
from server.knowledge_base.stores.base import ChunkFilter, ChunkIn
from server.knowledge_base.stores.pgvector_store import PgVectorStore
from tests.support.kb_service import KbHarness


def _chunks(n: int) -> tuple[list[ChunkIn], np.ndarray]:
    vectors = normalise(np.random.default_rng(0).standard_normal((n, 512)).astype(np.float32))
    return [
        ChunkIn(f"c{i}", f"text {i}", {"source": f"f{i % 3}.txt"}, v, ["word", f"w{i}"])
        for i, v in enumerate(vectors)
    ], vectors


def test_a_search_is_one_statement_with_the_vector_bound_in_binary(tmp_path: Path, postgres_url: str) -> None:
    async def story() -> None:
        embeddings = EmbeddingPool(Settings(data_dir=tmp_path, log_dir=tmp_path))
        async with KbHarness(tmp_path, embeddings, database_url=postgres_url) as kb:
            await kb.service.create("k", vs_type="pgvector")
            store = await kb.service.store(await kb.service.get("k"))
            assert isinstance(store, PgVectorStore)
            batch, vectors = _chunks(12)
            async with kb.service.db() as session:
                await store.write(session, upsert=batch)
                await session.commit()
            await store.search(vectors[0], 1)  # the dimension is looked up once per store
            sent: list[tuple[str, tuple[Any, ...]]] = []
            fetch = store.reads.fetch

            async def counting(statement: str, *args: Any) -> Any:
                sent.append((statement, args))
                return await fetch(statement, *args)

            store.reads.fetch = counting  # type: ignore[method-assign]
            for hybrid in (False, True):
                for where in (None, ChunkFilter(file_name="f1%")):
                    sent.clear()
                    hits = await search(
                        store, vectors[4], ["w4"], top_k=3, score_threshold=2.0, hybrid=hybrid, where=where
                    )
                    assert len(sent) == 1, [s for s, _ in sent]
                    assert hits and (where is not None or hits[0].id == "c4")
                    assert isinstance(sent[0][1][0], np.ndarray)  # the vector itself, not a text literal

    asyncio.run(story())


def test_a_search_on_a_connection_the_server_dropped_is_tried_again(
    tmp_path: Path, postgres_url: str
) -> None:
    async def story() -> None:
        embeddings = EmbeddingPool(Settings(data_dir=tmp_path, log_dir=tmp_path))
        async with KbHarness(tmp_path, embeddings, database_url=postgres_url) as kb:
            await kb.service.create("k", vs_type="pgvector")
            store = await kb.service.store(await kb.service.get("k"))
            assert isinstance(store, PgVectorStore)
            batch, vectors = _chunks(5)
            async with kb.service.db() as session:
                await store.write(session, upsert=batch)
                await session.commit()
            assert (await store.search(vectors[1], 1))[0].id == "c1"
            pool = await store.reads._open()
            assert pool.get_size() >= 2  # kept open between searches
            pids = [r[0] for r in await store.reads.fetch("SELECT pg_backend_pid()")]
            async with kb.service.db() as session:  # the server ends the pool's connections
                from sqlalchemy import text

                await session.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(:p)"),
                    {"p": pids},
                )
            assert (await store.search(vectors[2], 1))[0].id == "c2"

    asyncio.run(story())
