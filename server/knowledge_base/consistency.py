"""Do the catalogue, the folders and the stores agree? Check each knowledge base, repair what is safe.

Per knowledge base it compares the files the database lists with the files in the content
folder, and the chunk ids the database lists with the chunks the store holds. ``repair`` then
re-indexes a listed file whose chunks are missing, drops orphan chunks (in the store, listed
nowhere), removes what interrupted uploads left in the staging folder and the folders of
superseded indexes. Files in the content folder that the database does not list are reported
but kept: that is Chatchat's "in the folder, not in the database" state (``-i`` indexes them,
``--prune-folder`` deletes them).

The cheap check (the backend runs it at start) reads only the database and the folders, and
the chunk count of stores that are servers; the full check pages through every store.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from server.knowledge_base import catalog, uploads
from server.knowledge_base.service import KnowledgeBaseService
from server.knowledge_base.writer import TRASH_PREFIX

logger = logging.getLogger(__name__)


@dataclass
class KbReport:
    kb_name: str
    vs_type: str
    files_in_db: int = 0
    files_in_folder: int = 0
    chunks_in_db: int = 0
    chunks_in_store: int | None = None  # None: not counted (cheap check of a file store)
    missing_chunks: dict[str, int] = field(default_factory=dict)  # listed file -> chunks not in the store
    orphan_chunks: list[str] = field(default_factory=list)  # in the store, listed by no file
    missing_files: list[str] = field(default_factory=list)  # listed, but not in the content folder
    unindexed_files: list[str] = field(default_factory=list)  # in the folder, not in the database
    leftovers: list[str] = field(default_factory=list)  # staged uploads, superseded index folders
    full: bool = False

    @property
    def agrees(self) -> bool:
        counted = self.chunks_in_store is None or self.chunks_in_store == self.chunks_in_db
        return counted and not (
            self.missing_chunks or self.orphan_chunks or self.missing_files or self.leftovers
        )

    def lines(self) -> list[str]:
        store = "?" if self.chunks_in_store is None else str(self.chunks_in_store)
        out = [
            f"{self.kb_name} ({self.vs_type}): files {self.files_in_db} in database, "
            f"{self.files_in_folder} in folder; chunks {self.chunks_in_db} in database, {store} in store: "
            + ("agrees" if self.agrees else "DISAGREES")
        ]
        for name, n in sorted(self.missing_chunks.items()):
            out.append(f"  {name}: {n} chunks missing from the store")
        if self.orphan_chunks:
            out.append(f"  {len(self.orphan_chunks)} orphan chunks in the store")
        out += [f"  {name}: listed but not in the folder" for name in self.missing_files]
        out += [f"  {name}: in the folder, not indexed" for name in self.unindexed_files]
        out += [f"  leftover: {name}" for name in self.leftovers]
        return out


def _leftovers(service: KnowledgeBaseService, kb: catalog.KbSummary) -> list[Path]:
    found = [Path(p) for p in uploads.stale_staging(service.paths, kb.kb_name, older_than=0.0)]
    vector_root = service.paths.kb_dir(kb.kb_name) / "vector_store"
    if vector_root.is_dir():
        keep = kb.embed_model if kb.vs_type == "faiss" else None
        found += [p for p in vector_root.iterdir() if p.is_dir() and p.name != keep]
    return found


async def check(service: KnowledgeBaseService, name: str, *, full: bool = True) -> KbReport:
    kb = await service.get(name)
    report = KbReport(kb.kb_name, kb.vs_type, full=full)
    async with service.db() as session:
        row = await catalog.kb_row(session, name)
        listed = await catalog.kb_chunk_ids(session, row.id)
        files = await catalog.file_rows(session, row.id)
    summaries = await asyncio.to_thread(catalog.file_summaries, files, service.paths.content_dir(name))
    report.files_in_db = sum(f.in_db for f in summaries)
    report.files_in_folder = sum(f.in_folder for f in summaries)
    report.missing_files = [f.file_name for f in summaries if f.in_db and not f.in_folder]
    report.unindexed_files = [f.file_name for f in summaries if f.in_folder and not f.in_db]
    report.chunks_in_db = len(listed)
    report.leftovers = [
        str(p.relative_to(service.paths.root)) for p in await asyncio.to_thread(_leftovers, service, kb)
    ]
    if not full:  # a server store counts with one query; a file store would have to be loaded
        if kb.vs_type == "pgvector":
            report.chunks_in_store = await (await service.store(kb)).count()
        return report
    store = await service.store(kb)
    if store.capabilities.listing:
        stored: set[str] = set()
        async for page in store.iterate():
            stored.update(c.id for c in page)
        report.chunks_in_store = len(stored)
        report.orphan_chunks = sorted(stored - set(listed))
    else:  # a store that cannot list: check that every listed chunk is there
        present = {
            c.id
            for start in range(0, len(listed), 1000)
            for c in await store.get(list(listed)[start : start + 1000])
        }
        stored = present
    missing = Counter(listed[i] for i in listed if i not in stored)
    report.missing_chunks = dict(missing)
    return report


async def repair(service: KnowledgeBaseService, report: KbReport) -> list[str]:
    """Fix what is safe to fix; returns what was done, one line each."""
    done: list[str] = []
    kb = await service.get(report.kb_name)
    if report.orphan_chunks:
        store = await service.store(kb)
        async with service.db() as session, service.writer.locks.hold(kb.kb_name, session):
            undo = await store.write(session, delete=report.orphan_chunks)
            try:
                await session.commit()
            except BaseException:
                await undo()
                raise
        done.append(f"{kb.kb_name}: dropped {len(report.orphan_chunks)} orphan chunks")
    reindex = [n for n in report.missing_chunks if n not in report.missing_files]
    if reindex:
        from server.knowledge_base.setup import default_split

        failed = await service.update_files(
            kb.kb_name, reindex, default_split(service.settings), override_custom_docs=False, custom_docs=None
        )
        for name in reindex:
            done.append(
                f"{kb.kb_name}: {name}: "
                + (f"could not re-index: {failed[name]}" if name in failed else "re-indexed")
            )
    stale = {str(p.relative_to(service.paths.root)) for p in uploads.stale_staging(service.paths, kb.kb_name)}
    for name in report.leftovers:
        path = service.paths.root / name
        if "/.staging/" in f"/{name}/" and name not in stale:
            done.append(f"{kb.kb_name}: kept {name} (a recent upload, perhaps still being indexed)")
            continue
        await asyncio.to_thread(shutil.rmtree if path.is_dir() else Path.unlink, path)
        done.append(f"{kb.kb_name}: removed {name}")
    return done


def stray_trash(service: KnowledgeBaseService) -> list[Path]:
    """Folders of dropped knowledge bases whose deletion was interrupted."""
    root = service.paths.root
    return (
        [p for p in root.iterdir() if p.is_dir() and p.name.startswith(TRASH_PREFIX)] if root.is_dir() else []
    )


async def check_at_start(service: KnowledgeBaseService) -> list[KbReport]:
    """The cheap check of every knowledge base, logged; stale staging and trash are removed."""
    reports = []
    for path in await asyncio.to_thread(stray_trash, service):
        await asyncio.to_thread(shutil.rmtree, path, True)
    for kb in await service.list():
        try:
            report = await check(service, kb.kb_name, full=False)
        except Exception:
            logger.exception("checking knowledge base %s failed", kb.kb_name)
            continue
        removed = await asyncio.to_thread(uploads.clear_staging, service.paths, kb.kb_name)
        if removed:
            logger.info(
                "knowledge base %s: removed %d uploads left by an interrupted indexing", kb.kb_name, removed
            )
        reports.append(report)
        for line in report.lines():
            (logger.info if report.agrees else logger.warning)("knowledge base check: %s", line)
    return reports
