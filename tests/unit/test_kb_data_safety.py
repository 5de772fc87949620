"""Nothing stored in a knowledge base is lost or crossed: the defects found by trying the product.

Each story runs the real service on a real SQLite database, real FAISS files and the bundled
embedder; a "restart" is a new service over the same data, as a new backend process sees it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.kb_service import KbHarness, seed_chunks

VOLCANO = "火山喷发时熔岩流淌，火山灰遮住了天空。Volcano eruptions pour lava and ash into the sky.\n"
BREAD = "面包需要面粉、酵母和水，烤箱预热到二百度。Bread needs flour, yeast and water; bake it hot.\n"


def test_a_dropped_kb_leaves_no_keyword_index_behind(tmp_path: Path) -> None:
    async def story() -> None:
        async with KbHarness(tmp_path) as kb:
            await kb.service.create("k1", hybrid=True)
            await kb.add("k1", "volcano.txt", VOLCANO * 3)
            first = await kb.service.search("k1", "火山 熔岩 volcano lava", top_k=5, score_threshold=2.0)
            assert first and all(h.metadata["source"] == "volcano.txt" for h in first)
            await kb.service.drop("k1")

            await kb.service.create("k1", hybrid=False)
            await kb.add("k1", "bread.txt", BREAD * 3)
            hits = await kb.service.search(
                "k1", "火山 熔岩 volcano lava", top_k=5, score_threshold=0.3, hybrid=True
            )
            # the bread chunks share no word with the query: no keyword index may claim they match
            assert [h for h in hits if "keyword" in h.matched_by] == []
            bread = await kb.service.search(
                "k1", "面粉 酵母 flour yeast", top_k=5, score_threshold=2.0, hybrid=True
            )
            assert bread and all(h.metadata["source"] == "bread.txt" for h in bread)
            assert any("keyword" in h.matched_by for h in bread)

    asyncio.run(story())


def test_chunk_ids_are_never_reused_after_a_drop(tmp_path: Path) -> None:
    async def story() -> None:
        async with KbHarness(tmp_path) as kb:
            await kb.service.create("k1")
            await kb.add("k1", "volcano.txt", VOLCANO)
            old = set(await kb.service.file_doc_ids("k1", "volcano.txt"))
            await kb.service.drop("k1")
            await kb.service.create("k1")
            await kb.add("k1", "bread.txt", BREAD)
            assert old and not old & set(await kb.service.file_doc_ids("k1", "bread.txt"))

    asyncio.run(story())


def test_a_reader_racing_a_writer_right_after_a_restart_loses_nothing(tmp_path: Path) -> None:
    """The store of a KB is loaded on first use after a restart; a search and an upload that
    arrive together must end up in one store object, whatever the timing (several restarts)."""

    async def race(kb: KbHarness, name: str) -> set[str]:
        upload = asyncio.create_task(kb.add("big", name, BREAD))
        readers = []
        while not upload.done() and len(readers) < 5:  # more would queue the upload behind them
            readers.append(asyncio.create_task(kb.service.list_docs("big", file_name=name)))
            await asyncio.sleep(0.005)
        await upload
        await asyncio.gather(*readers)
        return set(await kb.service.file_doc_ids("big", name))

    async def story() -> None:
        async with KbHarness(tmp_path) as kb:
            await kb.service.create("big")
            await seed_chunks(kb.service, "big", "seed.txt", 6_000)
        uploaded: dict[str, set[str]] = {}
        for attempt in range(5):
            async with KbHarness(tmp_path) as kb:  # a fresh process: nothing loaded yet
                await kb.warm_up()  # the embedder is loaded; the knowledge base's store is not
                name = f"new{attempt}.txt"
                uploaded[name] = await race(kb, name)
                for done, ids in uploaded.items():
                    assert ids == {h.id for h in await kb.service.list_docs("big", file_name=done)}, done

        async with KbHarness(tmp_path) as kb:
            await kb.service.delete_files("big", ["seed.txt"], delete_content=True)
            # deleting one file never takes another file's chunks with it
            stored = {h.id: h.metadata["source"] for h in await kb.service.list_docs("big")}
            assert stored == {i: name for name, ids in uploaded.items() for i in ids}

    asyncio.run(story())


def test_a_failed_commit_leaves_the_store_and_the_database_agreeing(tmp_path: Path) -> None:
    async def story() -> None:
        async with KbHarness(tmp_path) as kb:
            await kb.service.create("k1")
            await kb.add("k1", "kept.txt", BREAD)
            # a real database failure at commit time: the database refuses this file's chunk rows
            await kb.execute(
                "CREATE TRIGGER refuse AFTER INSERT ON file_doc "
                "WHEN (SELECT file_name FROM knowledge_file WHERE id = NEW.file_id) = 'poison.txt' "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
            try:
                await kb.add("k1", "poison.txt", VOLCANO)
            except Exception as exc:
                assert "disk full" in str(exc)
            else:
                raise AssertionError("the commit should have failed")
            assert await kb.service.list_docs("k1", file_name="poison.txt") == []
            await kb.add("k1", "next.txt", VOLCANO)  # a later write must not persist the orphans
            await kb.execute("DROP TRIGGER refuse")

        async with KbHarness(tmp_path) as kb:
            stored = {h.id: h.metadata["source"] for h in await kb.service.list_docs("k1")}
            listed = {
                i: name
                for name in ("kept.txt", "next.txt")
                for i in await kb.service.file_doc_ids("k1", name)
            }
            assert stored == listed

    asyncio.run(story())
