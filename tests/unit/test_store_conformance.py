"""What "a store works" means: one suite, run against every vector store we offer.

FAISS (files, with SQLite), pgvector (in the app's own PostgreSQL, the embedded server) and any
LangChain vector store through the adapter (proved with langchain-chroma on a persistent
chromadb). Store-level checks use random unit vectors; the stories use the real embedder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from configs import Settings
from server.knowledge_base.embeddings import EmbeddingPool, normalise
from server.knowledge_base.stores.base import ChunkFilter, ChunkIn, VectorStore
from tests.support.kb_service import KbHarness

STORES = ["faiss", "pgvector", "langchain"]
CHROMA = {
    "class_path": "langchain_chroma.Chroma",
    "kwargs": {"persist_directory": "{data_dir}/chroma", "collection_metadata": {"hnsw:space": "cosine"}},
    "distance": "cosine",
}
DIM = 512  # the default embedder's, so the stories and the random vectors share one KB shape


@pytest.fixture(scope="module")
def embeddings(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingPool:
    root = tmp_path_factory.mktemp("embed")
    return EmbeddingPool(Settings(data_dir=root, log_dir=root))


@pytest.fixture(params=STORES)
def harness(request: pytest.FixtureRequest, tmp_path: Path, embeddings: EmbeddingPool) -> Iterator[KbHarness]:
    vs_type = request.param
    settings: dict[str, Any] = {"kb": {"default_vs_type": vs_type, "langchain": CHROMA}}
    if vs_type == "pgvector":
        settings["database_url"] = request.getfixturevalue("postgres_url")
    yield KbHarness(tmp_path, embeddings, **settings)


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    return normalise(np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32))


def chunks(vectors: np.ndarray, source: str = "a.txt", prefix: str = "c", **metadata: Any) -> list[ChunkIn]:
    return [
        ChunkIn(
            f"{prefix}{i}", f"text {prefix}{i}", {"source": source, "n": i, **metadata}, v, [f"w{prefix}{i}"]
        )
        for i, v in enumerate(vectors)
    ]


async def store_of(kb: KbHarness, name: str = "conf") -> VectorStore:
    if not await kb.service.exists(name):
        await kb.service.create(name)
    return await kb.service.store(await kb.service.get(name))


async def write(kb: KbHarness, store: VectorStore, **change: Any) -> None:
    async with kb.service.db() as session:
        undo = await store.write(session, **change)
        try:
            await session.commit()
        except BaseException:
            await undo()
            raise


def test_add_replace_and_delete(harness: KbHarness) -> None:
    async def story() -> None:
        async with harness as kb:
            store = await store_of(kb)
            vectors = unit_vectors(4)
            await write(kb, store, upsert=chunks(vectors))
            assert await store.count() == 4
            assert [c.text for c in await store.get(["c2", "missing", "c0"])] == ["text c2", "text c0"]
            replacement = ChunkIn("c1", "new text", {"source": "a.txt", "n": 9}, vectors[3], ["fresh"])
            await write(kb, store, upsert=[replacement])
            [got] = await store.get(["c1"])
            assert (got.text, got.metadata["n"]) == ("new text", 9)
            assert {h.id for h in await store.search(vectors[3], 2)} == {"c1", "c3"}  # the new vector
            await write(kb, store, delete=["c0", "c2"])
            assert await store.count() == 2
            assert await store.get(["c0", "c2"]) == []
            ids = [c.id for page in [p async for p in store.iterate(page_size=1)] for c in page]
            assert sorted(ids) == ["c1", "c3"]

    asyncio.run(story())


def test_scores_keep_the_contract(harness: KbHarness) -> None:
    async def story() -> None:
        async with harness as kb:
            store = await store_of(kb)
            vectors = unit_vectors(20, seed=1)
            await write(kb, store, upsert=chunks(vectors))
            query = vectors[7]
            hits = await store.search(query, 5)
            assert hits[0].id == "c7" and abs(hits[0].distance) < 1e-4
            expected = {f"c{i}": 1.0 - float(np.dot(v, query)) for i, v in enumerate(vectors)}
            assert [round(h.distance, 4) for h in hits] == [round(expected[h.id], 4) for h in hits]
            assert [h.distance for h in hits] == sorted(h.distance for h in hits)
            assert all(0.0 - 1e-5 <= h.distance <= 2.0 + 1e-5 for h in hits)

    asyncio.run(story())


def test_filters_are_applied_by_the_store(harness: KbHarness) -> None:
    async def story() -> None:
        async with harness as kb:
            store = await store_of(kb)
            vectors = unit_vectors(30, seed=2)
            await write(kb, store, upsert=chunks(vectors[:10], "report_2024.md", "r", lang="zh"))
            await write(kb, store, upsert=chunks(vectors[10:20], "report_2025.md", "s", lang="en"))
            await write(kb, store, upsert=chunks(vectors[20:], "notes.txt", "n", lang="zh"))
            query = vectors[25]  # nearest is in notes.txt
            only_reports = await store.search(query, 5, where=ChunkFilter(file_name="report%"))
            assert len(only_reports) == 5 and all(
                h.metadata["source"].startswith("report") for h in only_reports
            )
            one_char = await store.search(query, 50, where=ChunkFilter(file_name="report_202_.md"))
            assert {h.metadata["source"] for h in one_char} == {"report_2024.md", "report_2025.md"}
            zh_reports = await store.search(
                query, 50, where=ChunkFilter(file_name="report%", metadata={"lang": "zh"})
            )
            assert {h.id for h in zh_reports} == {f"r{i}" for i in range(10)}
            listed = [
                c
                async for page in store.iterate(where=ChunkFilter(files=frozenset({"notes.txt"})))
                for c in page
            ]
            assert sorted(c.id for c in listed) == sorted(f"n{i}" for i in range(10))
            assert await store.search(query, 5, where=ChunkFilter(metadata={"lang": "fr"})) == []

    asyncio.run(story())


def test_hybrid_search_finds_the_exact_words(harness: KbHarness) -> None:
    async def story() -> None:
        async with harness as kb:
            await kb.service.create("hybrid", hybrid=True)
            await kb.add(
                "hybrid",
                "codes.txt",
                "仓库的门禁密码是XK7Q九号。\n\n食堂周五供应饺子。\n\nThe badge code is ZEBRA-42.\n",
            )
            await kb.add("hybrid", "other.txt", "会议室在三楼。Meeting rooms are on the third floor.\n")
            store = await kb.service.store(await kb.service.get("hybrid"))
            keywords = store.capabilities.keyword_search or store.capabilities.hybrid_search
            # with keywords, the exact words keep a chunk whose vector is far; without, vectors alone answer
            threshold = 0.2 if keywords else 2.0
            hits = await kb.service.search("hybrid", "ZEBRA-42", top_k=2, score_threshold=threshold)
            assert hits and hits[0].metadata["source"] == "codes.txt" and "ZEBRA-42" in hits[0].text
            assert ("keyword" in hits[0].matched_by) == keywords
            assert all(0.0 <= h.score <= 2.0 for h in hits)

    asyncio.run(story())


def test_restart_keeps_everything(harness: KbHarness) -> None:
    async def story() -> None:
        async with harness as kb:
            await kb.service.create("keep")
            await kb.add("keep", "a.txt", "第一份文件讲灯塔。The first file is about lighthouses.\n")
            await kb.add("keep", "b.txt", "第二份文件讲面包。The second file is about bread.\n")
            before = [
                (h.id, round(h.score, 5))
                for h in await kb.service.search("keep", "lighthouse", top_k=2, score_threshold=2.0)
            ]
            listed = {h.id for h in await kb.service.list_docs("keep")}
        async with harness as kb:
            after = [
                (h.id, round(h.score, 5))
                for h in await kb.service.search("keep", "lighthouse", top_k=2, score_threshold=2.0)
            ]
            assert after == before and {h.id for h in await kb.service.list_docs("keep")} == listed

    asyncio.run(story())


def test_concurrent_writers_and_a_racing_reader_lose_nothing(harness: KbHarness) -> None:
    async def story() -> None:
        async with harness as kb:
            await kb.service.create("busy")
            await kb.add("busy", "first.txt", "开始。Start.\n")
        async with harness as kb:  # a restart: the store is not loaded yet
            names = [f"f{i}.txt" for i in range(4)]
            writers = [kb.add("busy", n, f"文件{i}的内容。Body of file {i}.\n") for i, n in enumerate(names)]
            readers = [kb.service.list_docs("busy") for _ in range(4)] + [
                kb.service.search("busy", "file", top_k=3, score_threshold=2.0) for _ in range(2)
            ]
            await asyncio.gather(*writers, *readers)
            stored = {h.id: h.metadata["source"] for h in await kb.service.list_docs("busy")}
            listed = {i: n for n in ["first.txt", *names] for i in await kb.service.file_doc_ids("busy", n)}
            assert stored == listed and set(stored.values()) == {"first.txt", *names}

    asyncio.run(story())


def test_a_dropped_kb_leaves_nothing_for_its_successor(harness: KbHarness) -> None:
    async def story() -> None:
        async with harness as kb:
            await kb.service.create("again", hybrid=True)
            await kb.add("again", "volcano.txt", "火山喷发。Volcano lava.\n")
            assert await kb.service.search("again", "volcano", top_k=1, score_threshold=2.0)
            await kb.service.drop("again")
            await kb.service.create("again", hybrid=True)
            assert await kb.service.list_docs("again") == []
            assert await kb.service.search("again", "火山 volcano lava", top_k=3, score_threshold=2.0) == []

    asyncio.run(story())


def test_hybrid_candidates_agree_with_asking_each_ranking_apart(harness: KbHarness) -> None:
    """A store may answer ``candidates`` its own way (pgvector: one statement), never differently."""

    async def story() -> None:
        async with harness as kb:
            store = await store_of(kb)
            vectors = unit_vectors(30, seed=5)
            batch = chunks(vectors)
            for i, chunk in enumerate(batch):  # "rare" in 5 chunks, each a different number of times
                chunk.tokens = ["common", f"own{i}"] + (["rare"] * (i // 7 + 1) if i % 7 == 0 else [])
            await write(kb, store, upsert=batch)
            for tokens, where in (
                (["rare"], None),
                (["rare"], ChunkFilter(file_name="a%")),
                ([], None),
                (["absent"], None),
            ):
                own = await store.candidates(vectors[3], tokens, 5, where=where)
                apart = await VectorStore.candidates(store, vectors[3], tokens, 5, where=where)
                assert own.vector_order == apart.vector_order
                assert [i for i, _ in own.keyword_hits] == [i for i, _ in apart.keyword_hits]
                assert [s for _, s in own.keyword_hits] == pytest.approx([s for _, s in apart.keyword_hits])
                assert own.chunks.keys() == apart.chunks.keys()
                for doc_id, chunk in own.chunks.items():
                    assert chunk.text == apart.chunks[doc_id].text
                    assert chunk.distance == pytest.approx(apart.chunks[doc_id].distance, abs=1e-5)
            assert len((await store.candidates(vectors[3], ["rare"], 5)).keyword_hits) == (
                5 if store.capabilities.keyword_search else 0
            )

    asyncio.run(story())
