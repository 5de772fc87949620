"""The FAISS store's own files: one commit point, no pickle, and the first format still reads."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import faiss
import numpy as np

from server.knowledge_base.embeddings import normalise
from server.knowledge_base.stores.base import ChunkIn
from server.knowledge_base.stores.faiss_store import DOCS_FILE, LEGACY_INDEX_FILE, FaissStore


def test_saves_one_index_generation_and_json_without_pickle(tmp_path: Path) -> None:
    vectors = normalise(np.random.default_rng(0).standard_normal((3, 8)))

    async def story() -> None:
        store = FaissStore(tmp_path / "vs", "c1")
        await store.write(upsert=[ChunkIn(f"id{i}", f"t{i}", {"source": "f"}, vectors[i]) for i in range(3)])
        await store.write(delete=["id1"])
        names = sorted(p.name for p in (tmp_path / "vs").iterdir())
        assert len(names) == 2 and DOCS_FILE in names  # the superseded index generation is gone
        assert json.loads((tmp_path / "vs" / DOCS_FILE).read_text())["index_file"] in names
        reopened = FaissStore(tmp_path / "vs", "c1")
        assert [c.id for c in (await reopened.search(vectors[2], 5))] == ["id2", "id0"]
        assert await FaissStore(tmp_path / "vs", "another").count() == 0  # never read as someone else's

    asyncio.run(story())


def test_the_first_format_is_read_with_its_numeric_ids(tmp_path: Path) -> None:
    vectors = normalise(np.eye(4, dtype=np.float32))
    directory = tmp_path / "vs"
    directory.mkdir()
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(4))
    index.add_with_ids(vectors[:2], np.asarray([1, 2], dtype=np.int64))
    faiss.write_index(index, str(directory / LEGACY_INDEX_FILE))
    docs = {"1": {"text": "a", "metadata": {"source": "x"}}, "2": {"text": "b", "metadata": {"source": "y"}}}
    (directory / DOCS_FILE).write_text(json.dumps({"next_id": 3, "docs": docs}))

    async def story() -> None:
        store = FaissStore(directory, "kb")
        assert [c.text for c in await store.get(["2", "1"])] == ["b", "a"]
        await store.write(upsert=[ChunkIn("new", "c", {"source": "x"}, vectors[2])])
        assert {c.id for page in [p async for p in store.iterate()] for c in page} == {"1", "2", "new"}
        assert not (directory / LEGACY_INDEX_FILE).exists()

    asyncio.run(story())
