"""The consistency check finds every way the catalogue, the folders and a store can disagree,
and the repair leaves them agreeing; a knowledge base moves between stores and keeps everything."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from configs import PROJECT_ROOT
from server.knowledge_base import consistency
from server.knowledge_base.mover import move
from server.knowledge_base.stores.base import ChunkIn
from tests.support.kb_service import EMBED_DIM, SPLIT, KbHarness

LIGHTHOUSE = "灯塔的账本放在七号柜。The lighthouse ledger is in cabinet seven.\n"
BREAD = "面包需要面粉和酵母。Bread needs flour and yeast.\n"


def test_check_finds_each_disagreement_and_repair_fixes_what_is_safe(tmp_path: Path) -> None:
    async def story() -> None:
        async with KbHarness(tmp_path) as kb:
            await kb.service.create("k")
            await kb.add("k", "light.txt", LIGHTHOUSE)
            await kb.add("k", "bread.txt", BREAD)
            await kb.add("k", "gone.txt", "这份文件会被删掉。This file goes away.\n")
            assert (await consistency.check(kb.service, "k")).agrees

            store = await kb.service.store(await kb.service.get("k"))
            orphan = ChunkIn("orphan-1", "nobody lists me", {"source": "x.txt"}, np.eye(EMBED_DIM)[0])
            await store.write(upsert=[orphan])  # a crash between a store write and its commit
            await store.write(delete=await kb.service.file_doc_ids("k", "bread.txt"))  # chunks lost
            kb.service.paths.file_path("k", "gone.txt").unlink()
            kb.service.paths.file_path("k", "extra.txt").write_text("copied in by hand")
            staged = kb.service.paths.staging_dir("k") / "abc"
            staged.mkdir(parents=True)
            (staged / "half.txt").write_text("an upload that was killed")
            os.utime(staged, (time.time() - 7200, time.time() - 7200))

            report = await consistency.check(kb.service, "k")
            assert not report.agrees
            assert report.orphan_chunks == ["orphan-1"]
            assert report.missing_chunks == {"bread.txt": 1}
            assert report.missing_files == ["gone.txt"] and report.unindexed_files == ["extra.txt"]
            assert report.leftovers == ["k/.staging/abc"]
            assert any("DISAGREES" in line for line in report.lines())

            done = await consistency.repair(kb.service, report)
            assert any("re-indexed" in line for line in done)
            after = await consistency.check(kb.service, "k")
            assert after.orphan_chunks == [] and after.missing_chunks == {} and after.leftovers == []
            assert after.unindexed_files == ["extra.txt"]  # kept: it may be indexed with -i
            hits = await kb.service.search("k", "flour yeast", top_k=1, score_threshold=2.0)
            assert hits[0].metadata["source"] == "bread.txt"

    asyncio.run(story())


def test_an_upload_killed_while_indexing_leaves_no_file_the_kb_does_not_list(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.path.insert(0, {str(PROJECT_ROOT)!r})
        from pathlib import Path
        from tests.support.kb_service import KbHarness, SPLIT

        async def main():
            async with KbHarness(Path({str(tmp_path)!r})) as kb:
                await kb.service.create("k")
                text = "".join(
                    f"第{{i}}段：第{{i}}号箱子装着零件。Box {{i}} holds parts.\\n\\n" for i in range(3000)
                )
                await kb.service.upload("k", [("big.txt", text.encode())], SPLIT, override=False)
                print("finished", flush=True)

        asyncio.run(main())
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    staging = tmp_path / "data" / "knowledge_base" / "k" / ".staging"
    deadline = time.monotonic() + 120
    while not list(staging.glob("*/big.txt")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)  # it is splitting and embedding now
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert process.stdout is not None and "finished" not in process.stdout.read()

    async def story() -> None:
        async with KbHarness(tmp_path) as kb:
            assert await kb.service.list_files("k") == []
            content = kb.service.paths.content_dir("k")
            assert not content.exists() or list(content.iterdir()) == []
            report = await consistency.check(kb.service, "k")
            assert [Path(p).name for p in report.leftovers] and report.chunks_in_db == 0

    asyncio.run(story())


def test_a_kb_moves_to_pgvector_and_back_keeping_files_ids_and_answers(
    tmp_path: Path, postgres_url: str
) -> None:
    async def story() -> None:
        async with KbHarness(tmp_path, database_url=postgres_url) as kb:
            await kb.service.create("mover", vs_type="faiss", hybrid=True)
            await kb.add("mover", "light.txt", LIGHTHOUSE)
            await kb.add("mover", "bread.txt", BREAD)
            ids = {h.id: h.text for h in await kb.service.list_docs("mover")}
            answer = [
                h.id
                for h in await kb.service.search("mover", "lighthouse ledger", top_k=2, score_threshold=2.0)
            ]
            faiss_dir = kb.service.paths.vector_store_dir("mover", "usem3-multilingual")
            assert faiss_dir.is_dir()

            assert await move(kb.service, "mover", "pgvector") == len(ids)
            assert (await kb.service.get("mover")).vs_type == "pgvector"
            assert not faiss_dir.exists()
            assert {h.id: h.text for h in await kb.service.list_docs("mover")} == ids
            moved = await kb.service.search("mover", "lighthouse ledger", top_k=2, score_threshold=2.0)
            assert [h.id for h in moved] == answer
            keyword = await kb.service.search("mover", "酵母", top_k=1, score_threshold=0.1, hybrid=True)
            assert keyword and keyword[0].metadata["source"] == "bread.txt"
            assert (await consistency.check(kb.service, "mover")).agrees

            assert await move(kb.service, "mover", "faiss") == len(ids)
            assert {h.id: h.text for h in await kb.service.list_docs("mover")} == ids
            assert sorted(f.file_name for f in await kb.service.list_files("mover")) == [
                "bread.txt",
                "light.txt",
            ]
            assert (await consistency.check(kb.service, "mover")).agrees
            await kb.service.update_files(
                "mover", ["light.txt"], SPLIT, override_custom_docs=False, custom_docs=None
            )

    asyncio.run(story())
