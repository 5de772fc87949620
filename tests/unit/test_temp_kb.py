"""File chat's temporary knowledge bases: indexed uploads that expire, are evicted, and stay small.

Each story runs the real service of one backend (SQLite, FAISS, the bundled embedder); an upload
is a database row plus a store collection, so a new service over the same data finds it again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from configs import Settings
from server.db.models.knowledge_base import TempKnowledgeBase
from server.knowledge_base.embeddings import EmbeddingPool
from server.knowledge_base.errors import InvalidName, KnowledgeBaseNotFound, PayloadTooLarge
from server.knowledge_base.ingest import SplitOptions
from server.knowledge_base.temp_kb import TempKnowledgeBases
from tests.support.kb_service import KbHarness

SPLIT = SplitOptions(chunk_size=250, chunk_overlap=50, zh_title_enhance=False)
OXYGEN = ("station.txt", b"The Zorvex research station keeps its spare oxygen tanks in the blue hangar.")
GATE = ("gate.md", "# 访客\n\n访客必须在北门登记后才能进入。".encode())

Story = Callable[[TempKnowledgeBases], Awaitable[None]]


@pytest.fixture(scope="module")
def embeddings() -> EmbeddingPool:
    return EmbeddingPool(Settings())  # the default embedder, loaded once for the module


def run(tmp_path: Path, embeddings: EmbeddingPool, story: Story, **kb: Any) -> None:
    async def main() -> None:
        async with KbHarness(tmp_path, embeddings, kb=kb) as harness:
            await story(harness.temp)

    asyncio.run(main())


async def add(kbs: TempKnowledgeBases, *files: tuple[str, bytes], prev: str | None = None) -> str:
    kb_id, failed = await kbs.add(list(files), SPLIT, prev)
    assert failed == {}
    return kb_id


async def sources(kbs: TempKnowledgeBases, kb_id: str, query: str) -> list[str]:
    hits = await kbs.search(kb_id, query, top_k=3, score_threshold=1.0)
    return [h.metadata["source"] for h in hits]


async def files(kbs: TempKnowledgeBases, kb_id: str) -> list[str]:
    return list((await kbs.get(kb_id)).files)


async def age(kbs: TempKnowledgeBases, kb_id: str, seconds: float) -> None:
    """Pretend the upload was last used ``seconds`` earlier than it was."""
    async with kbs.db() as session:
        row = await session.get(TempKnowledgeBase, kb_id)
        assert row is not None
        row.used_at -= timedelta(seconds=seconds)
        await session.commit()


def test_uploads_are_indexed_under_an_id_and_answer_a_search(
    tmp_path: Path, embeddings: EmbeddingPool
) -> None:
    async def story(kbs: TempKnowledgeBases) -> None:
        kb_id = await add(kbs, OXYGEN)
        assert len(kb_id) == 32
        assert await sources(kbs, kb_id, "Where are the oxygen tanks kept?") == ["station.txt"]
        assert (await kbs.file_path(kb_id, "station.txt")).read_bytes() == OXYGEN[1]
        # the same id takes more files, and searches see both
        assert await add(kbs, GATE, prev=kb_id) == kb_id
        assert await files(kbs, kb_id) == ["station.txt", "gate.md"]
        assert (await sources(kbs, kb_id, "访客从哪个门进入？"))[0] == "gate.md"

    run(tmp_path, embeddings, story)


def test_an_upload_survives_a_restart(tmp_path: Path, embeddings: EmbeddingPool) -> None:
    """Another backend process (or this one, restarted) answers from the same upload."""

    async def upload(kbs: TempKnowledgeBases) -> None:
        ids.append(await add(kbs, OXYGEN))

    async def ask(kbs: TempKnowledgeBases) -> None:
        assert await sources(kbs, ids[0], "Where are the oxygen tanks kept?") == ["station.txt"]
        assert await files(kbs, ids[0]) == ["station.txt"]

    ids: list[str] = []
    run(tmp_path, embeddings, upload)
    run(tmp_path, embeddings, ask)


def test_an_unreadable_file_is_reported_and_the_others_go_in(
    tmp_path: Path, embeddings: EmbeddingPool
) -> None:
    async def story(kbs: TempKnowledgeBases) -> None:
        kb_id, failed = await kbs.add([("broken.pdf", b"not a pdf at all"), OXYGEN], SPLIT)
        assert list(failed) == ["broken.pdf"] and failed["broken.pdf"]
        assert await files(kbs, kb_id) == ["station.txt"]
        assert not kbs.paths.temp_file_path(kb_id, "broken.pdf").exists()

    run(tmp_path, embeddings, story)


def test_an_unused_upload_expires_and_its_files_are_removed(
    tmp_path: Path, embeddings: EmbeddingPool
) -> None:
    async def story(kbs: TempKnowledgeBases) -> None:
        kept, dropped = await add(kbs, OXYGEN), await add(kbs, GATE)
        await age(kbs, kept, 50)  # used 50 s ago: still young
        await age(kbs, dropped, 61)  # unused for longer than temp_expiry_s
        with pytest.raises(KnowledgeBaseNotFound, match="does not exist or has expired"):
            await kbs.get(dropped)
        assert not kbs.paths.temp_dir(dropped).exists()
        async with kbs.db() as session:
            assert await session.get(TempKnowledgeBase, dropped) is None
        assert await files(kbs, kept) == ["station.txt"]

    run(tmp_path, embeddings, story, temp_expiry_s=60)


def test_a_use_renews_the_expiry(tmp_path: Path, embeddings: EmbeddingPool) -> None:
    async def story(kbs: TempKnowledgeBases) -> None:
        kb_id = await add(kbs, OXYGEN)
        await age(kbs, kb_id, 50)
        assert await sources(kbs, kb_id, "oxygen tanks") == ["station.txt"]  # a search is a use
        await age(kbs, kb_id, 50)  # 100 s after the upload, 50 s after the search
        assert await files(kbs, kb_id) == ["station.txt"]

    run(tmp_path, embeddings, story, temp_expiry_s=60)


def test_past_the_limit_the_least_recently_used_upload_is_evicted(
    tmp_path: Path, embeddings: EmbeddingPool
) -> None:
    async def story(kbs: TempKnowledgeBases) -> None:
        first, second = await add(kbs, OXYGEN), await add(kbs, GATE)
        await age(kbs, first, 2)
        await age(kbs, second, 1)
        await kbs.get(first)  # first is now the more recently used
        third = await add(kbs, ("third.txt", b"A third upload."))
        with pytest.raises(KnowledgeBaseNotFound):
            await kbs.get(second)
        assert not kbs.paths.temp_dir(second).exists()
        assert await files(kbs, first) == ["station.txt"] and await files(kbs, third) == ["third.txt"]

    run(tmp_path, embeddings, story, temp_max_kbs=2)


def test_an_upload_over_the_size_limit_is_refused_and_nothing_is_kept(
    tmp_path: Path, embeddings: EmbeddingPool
) -> None:
    async def story(kbs: TempKnowledgeBases) -> None:
        temp = tmp_path / "data" / "temp"
        with pytest.raises(PayloadTooLarge, match="at most 0.001 MB"):
            await kbs.add([("big.txt", b"x" * 2000)], SPLIT)
        assert not temp.exists() or not any(temp.iterdir())
        kb_id = await add(kbs, OXYGEN)
        with pytest.raises(PayloadTooLarge):  # the limit counts what the upload already holds
            await kbs.add([("more.txt", b"y" * 1000)], SPLIT, kb_id)
        assert await files(kbs, kb_id) == ["station.txt"]
        assert not kbs.paths.temp_file_path(kb_id, "more.txt").exists()

    run(tmp_path, embeddings, story, temp_max_mb=0.001)  # 1048 bytes


def test_ids_are_checked_before_anything_is_looked_up(tmp_path: Path, embeddings: EmbeddingPool) -> None:
    async def story(kbs: TempKnowledgeBases) -> None:
        for bad in ("../etc", "x" * 32, ""):
            with pytest.raises(InvalidName):
                await kbs.get(bad)
        with pytest.raises(KnowledgeBaseNotFound):
            await kbs.get(uuid.uuid4().hex)
        kb_id = await add(kbs, OXYGEN)
        with pytest.raises(InvalidName):
            await kbs.file_path(kb_id, "../station.txt")

    run(tmp_path, embeddings, story)


def test_clear_removes_every_upload(tmp_path: Path, embeddings: EmbeddingPool) -> None:
    async def story(kbs: TempKnowledgeBases) -> None:
        ids = [await add(kbs, OXYGEN), await add(kbs, GATE)]
        assert await kbs.clear() == 2
        for kb_id in ids:
            assert not kbs.paths.temp_dir(kb_id).exists()
            with pytest.raises(KnowledgeBaseNotFound):
                await kbs.get(kb_id)

    run(tmp_path, embeddings, story)
