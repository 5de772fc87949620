"""The knowledge-base service: the one seam the API, the CLI and the chat use.

Metadata (knowledge bases, files, the chunk ids of each file) lives in the database; chunks and
vectors live in the vector store; BM25 indexes beside it. Writes to one knowledge base are
serialised by a lock per KB; parsing and embedding happen before taking it, in threads, so two
uploads into one KB overlap their slow parts and lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs import Settings
from server.db.base import utcnow
from server.db.models.knowledge_base import FileDoc, KnowledgeBase, KnowledgeFile
from server.knowledge_base.bm25_index import Bm25Manager
from server.knowledge_base.embeddings import EmbeddingPool
from server.knowledge_base.errors import (
    Conflict,
    FileNotInKnowledgeBase,
    InvalidName,
    KnowledgeBaseNotFound,
    LoaderError,
)
from server.knowledge_base.faiss_store import FaissStore
from server.knowledge_base.loaders import load_file, loader_name
from server.knowledge_base.paths import KbPaths, check_kb_name
from server.knowledge_base.retrieval import SearchHit, passes, search
from server.knowledge_base.splitter import Chunk, split_text
from server.knowledge_base.store import VectorStore

logger = logging.getLogger(__name__)

SUPPORTED_VS_TYPES = ("faiss",)
CUSTOM_SPLITTER = "custom"


@dataclass
class SplitOptions:
    chunk_size: int
    chunk_overlap: int
    zh_title_enhance: bool


@dataclass
class PreparedFile:
    """A file read, split and embedded, ready to be written under the KB lock."""

    name: str
    loader: str
    splitter: str
    chunks: list[Chunk]
    vectors: np.ndarray
    size: int
    mtime: float
    custom: bool = False


@dataclass
class KbSummary:
    kb_name: str
    kb_info: str
    vs_type: str
    embed_model: str
    hybrid: bool
    file_count: int
    created_at: Any


@dataclass
class FileSummary:
    file_name: str
    file_ext: str
    file_size: int
    file_mtime: float
    document_loader_name: str
    text_splitter_name: str
    file_version: int
    docs_count: int
    custom_docs: bool
    in_folder: bool
    in_db: bool = True
    created_at: Any = None
    doc_ids: list[str] = field(default_factory=list)


def prepare_chunks(
    path: Path, name: str, options: SplitOptions, custom: list[dict[str, Any]] | None = None
) -> tuple[list[Chunk], str, str]:
    """Load and split one file (or take its custom docs); CPU and disk work, run in a thread."""
    if custom:
        chunks = [
            Chunk(str(d.get("page_content", "")), -1, -1, dict(d.get("metadata") or {}))
            for d in custom
            if str(d.get("page_content", "")).strip()
        ]
        if not chunks:
            raise LoaderError(f"the custom docs of {name} hold no text")
        return chunks, "CustomDocs", CUSTOM_SPLITTER
    loaded = load_file(path)
    chunks, splitter = split_text(
        loaded.text,
        markdown=path.suffix.lower() in (".md", ".markdown"),
        chunk_size=options.chunk_size,
        chunk_overlap=options.chunk_overlap,
        zh_title_enhance=options.zh_title_enhance,
    )
    if not chunks:
        raise LoaderError(f"no text found in {name}")
    return chunks, loaded.loader, splitter


def chunk_metadata(file_name: str, chunk: Chunk) -> dict[str, Any]:
    metadata = {**chunk.metadata, "source": file_name}
    if chunk.start >= 0:
        metadata["start"], metadata["end"] = chunk.start, chunk.end
    return metadata


class KnowledgeBaseService:
    def __init__(
        self, settings: Settings, db: async_sessionmaker[AsyncSession], embeddings: EmbeddingPool
    ) -> None:
        self.settings = settings
        self.db = db
        self.embeddings = embeddings
        self.paths = KbPaths(settings.data_dir)
        self._stores: dict[tuple[str, str], VectorStore] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.bm25 = Bm25Manager()
        self._bm25_tasks: dict[str, asyncio.Task] = {}
        self._bm25_dirty: set[str] = set()

    # ---- knowledge bases ------------------------------------------------------------------

    async def _kb_row(self, session: AsyncSession, name: str) -> KnowledgeBase:
        check_kb_name(name)
        row = await session.scalar(select(KnowledgeBase).where(KnowledgeBase.kb_name == name))
        if row is None:
            raise KnowledgeBaseNotFound(f"knowledge base {name!r} does not exist")
        return row

    @staticmethod
    def _summary(row: KnowledgeBase) -> KbSummary:
        return KbSummary(
            row.kb_name, row.kb_info, row.vs_type, row.embed_model, row.hybrid, row.file_count, row.created_at
        )

    async def get(self, name: str) -> KbSummary:
        async with self.db() as session:
            return self._summary(await self._kb_row(session, name))

    async def exists(self, name: str) -> bool:
        async with self.db() as session:
            return bool(await session.scalar(select(func.count()).where(KnowledgeBase.kb_name == name)))

    async def list(self) -> list[KbSummary]:
        async with self.db() as session:
            rows = (await session.scalars(select(KnowledgeBase).order_by(KnowledgeBase.kb_name))).all()
            return [self._summary(r) for r in rows]

    async def create(
        self,
        name: str,
        *,
        vs_type: str | None = None,
        embed_model: str | None = None,
        info: str = "",
        hybrid: bool | None = None,
    ) -> KbSummary:
        check_kb_name(name)
        vs_type = vs_type or self.settings.kb.default_vs_type
        if vs_type not in SUPPORTED_VS_TYPES:
            raise InvalidName(
                f"vector store {vs_type!r} is not available; available: {', '.join(SUPPORTED_VS_TYPES)}"
            )
        embed_model = self.embeddings.check(embed_model or self.settings.default_embed_model)
        async with self._locks[name], self.db() as session:
            if await session.scalar(select(func.count()).where(KnowledgeBase.kb_name == name)):
                raise Conflict(f"knowledge base {name!r} already exists")
            await asyncio.to_thread(self.paths.content_dir(name).mkdir, parents=True, exist_ok=True)
            row = KnowledgeBase(
                kb_name=name,
                kb_info=info,
                vs_type=vs_type,
                embed_model=embed_model,
                hybrid=self.settings.kb.hybrid if hybrid is None else hybrid,
                file_count=0,
            )
            session.add(row)
            await session.commit()
            return self._summary(row)

    async def drop(self, name: str) -> None:
        async with self._locks[name]:
            async with self.db() as session:
                row = await self._kb_row(session, name)
                await session.delete(row)
                await session.commit()
            for key in [k for k in self._stores if k[0] == name]:
                self._stores.pop(key)
            kb_dir = self.paths.kb_dir(name)
            await asyncio.to_thread(shutil.rmtree, kb_dir, ignore_errors=True)

    async def update_info(self, name: str, info: str, hybrid: bool | None = None) -> KbSummary:
        async with self.db() as session:
            row = await self._kb_row(session, name)
            row.kb_info = info
            if hybrid is not None:
                row.hybrid = hybrid
            await session.commit()
            summary = self._summary(row)
        if hybrid:
            self.schedule_bm25(name)
        return summary

    # ---- stores ---------------------------------------------------------------------------

    def store_for(self, kb_name: str, embed_model: str) -> VectorStore:
        """The cached store of a KB, loaded from our own data dir on first use."""
        key = (kb_name, embed_model)
        if key not in self._stores:
            self._stores[key] = FaissStore(self.paths.vector_store_dir(kb_name, embed_model))
        return self._stores[key]

    def bm25_dir(self, kb_name: str, embed_model: str) -> Path:
        return self.paths.vector_store_dir(kb_name, embed_model) / "bm25"

    async def _store(self, kb: KbSummary) -> VectorStore:
        return await asyncio.to_thread(self.store_for, kb.kb_name, kb.embed_model)

    def schedule_bm25(self, name: str) -> None:
        """Rebuild the KB's BM25 index in the background; changes during a rebuild queue one more."""
        task = self._bm25_tasks.get(name)
        if task is not None and not task.done():
            self._bm25_dirty.add(name)
            return
        self._bm25_tasks[name] = asyncio.get_running_loop().create_task(self._rebuild_bm25(name))

    async def _rebuild_bm25(self, name: str) -> None:
        while True:
            self._bm25_dirty.discard(name)
            try:
                kb = await self.get(name)
                store = await self._store(kb)
                ids = store.ids()
                docs = store.get(ids)
                directory = self.bm25_dir(name, kb.embed_model)
                await asyncio.to_thread(
                    self.bm25.rebuild, directory, [d.id for d in docs], [d.text for d in docs]
                )
            except KnowledgeBaseNotFound:
                return
            except Exception:  # a background job must log, not vanish
                logger.exception("rebuilding the BM25 index of %s failed", name)
                return
            if name not in self._bm25_dirty:
                return

    async def wait_bm25(self, name: str) -> None:
        while (task := self._bm25_tasks.get(name)) is not None and not task.done():
            await asyncio.shield(task)

    # ---- files ----------------------------------------------------------------------------

    async def save_upload(self, kb_name: str, file_name: str, data: bytes, *, override: bool) -> bool:
        """Write an uploaded file into the KB's content folder; False if it exists and not override."""
        path = self.paths.file_path(kb_name, file_name)

        def write() -> bool:
            if path.exists() and not override:
                return False
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            return True

        return await asyncio.to_thread(write)

    async def _prepare(
        self,
        kb: KbSummary,
        names: list[str],
        options: SplitOptions,
        custom_docs: dict[str, list[dict[str, Any]]],
        failed: dict[str, str],
    ) -> list[PreparedFile]:
        """Load and split each file, then embed all their chunks in one batched pass."""
        loaded: list[tuple[str, list[Chunk], str, str, os.stat_result | None]] = []
        for name in names:
            try:
                path = self.paths.file_path(kb.kb_name, name)
                custom = custom_docs.get(name)
                if not custom and not path.is_file():
                    raise LoaderError(f"{name} is not in knowledge base {kb.kb_name!r}")
                if not custom:
                    loader_name(path)  # unsupported types fail before any work
                chunks, loader, splitter = await asyncio.to_thread(
                    prepare_chunks, path, name, options, custom
                )
                loaded.append((name, chunks, loader, splitter, path.stat() if path.is_file() else None))
            except (LoaderError, InvalidName) as exc:
                failed[name] = str(exc)
        texts = [c.text for _, chunks, *_ in loaded for c in chunks]
        vectors = await self.embeddings.aembed_documents(kb.embed_model, texts) if texts else None
        prepared, offset = [], 0
        for name, chunks, loader, splitter, stat in loaded:
            assert vectors is not None
            part = vectors[offset : offset + len(chunks)]
            offset += len(chunks)
            prepared.append(
                PreparedFile(
                    name,
                    loader,
                    splitter,
                    chunks,
                    part,
                    stat.st_size if stat else 0,
                    stat.st_mtime if stat else 0.0,
                    name in custom_docs,
                )
            )
        return prepared

    async def add_files(
        self,
        kb_name: str,
        file_names: list[str],
        options: SplitOptions,
        custom_docs: dict[str, list[dict[str, Any]]] | None = None,
        *,
        refresh: bool = True,
    ) -> dict[str, str]:
        """Index files already in the content folder (replacing their old chunks); returns failed files."""
        kb = await self.get(kb_name)
        failed: dict[str, str] = {}
        prepared = await self._prepare(kb, file_names, options, custom_docs or {}, failed)
        if prepared:
            async with self._locks[kb_name]:
                await self._write_prepared(kb, prepared)
        if refresh and kb.hybrid:
            self.schedule_bm25(kb_name)
        return failed

    async def _write_prepared(self, kb: KbSummary, prepared: list[PreparedFile]) -> None:
        store = await self._store(kb)
        async with self.db() as session:
            kb_row = await self._kb_row(session, kb.kb_name)
            for item in prepared:
                row = await session.scalar(
                    select(KnowledgeFile).where(
                        KnowledgeFile.kb_id == kb_row.id, KnowledgeFile.file_name == item.name
                    )
                )
                if row is not None:
                    old = (
                        await session.scalars(select(FileDoc.doc_id).where(FileDoc.file_id == row.id))
                    ).all()
                    store.delete(list(old))
                    await session.execute(delete(FileDoc).where(FileDoc.file_id == row.id))
                    row.file_version += 1
                else:
                    row = KnowledgeFile(kb_id=kb_row.id, file_name=item.name, file_version=1)
                    session.add(row)
                row.file_ext = Path(item.name).suffix.lower()
                row.document_loader_name = item.loader
                row.text_splitter_name = item.splitter
                row.file_mtime, row.file_size = item.mtime, item.size
                row.custom_docs = item.custom
                row.docs_count = len(item.chunks)
                row.created_at = row.created_at or utcnow()
                metadatas = [chunk_metadata(item.name, c) for c in item.chunks]
                ids = store.add([c.text for c in item.chunks], metadatas, item.vectors)
                await session.flush()
                session.add_all(
                    FileDoc(file_id=row.id, doc_id=i, meta=m) for i, m in zip(ids, metadatas, strict=True)
                )
            kb_row.file_count = (
                await session.scalar(
                    select(func.count()).select_from(KnowledgeFile).where(KnowledgeFile.kb_id == kb_row.id)
                )
                or 0
            )
            await asyncio.to_thread(store.save)
            await session.commit()

    async def delete_files(
        self, kb_name: str, file_names: list[str], *, delete_content: bool, refresh: bool = True
    ) -> dict[str, str]:
        kb = await self.get(kb_name)
        failed: dict[str, str] = {}
        async with self._locks[kb_name]:
            store = await self._store(kb)
            async with self.db() as session:
                kb_row = await self._kb_row(session, kb_name)
                for name in file_names:
                    try:
                        path = self.paths.file_path(kb_name, name)
                    except InvalidName as exc:
                        failed[name] = str(exc)
                        continue
                    row = await session.scalar(
                        select(KnowledgeFile).where(
                            KnowledgeFile.kb_id == kb_row.id, KnowledgeFile.file_name == name
                        )
                    )
                    if row is None and not (delete_content and path.is_file()):
                        failed[name] = f"{name} is not in knowledge base {kb_name!r}"
                        continue
                    if row is not None:
                        ids = (
                            await session.scalars(select(FileDoc.doc_id).where(FileDoc.file_id == row.id))
                        ).all()
                        store.delete(list(ids))
                        await session.delete(row)
                    if delete_content:
                        path.unlink(missing_ok=True)
                await session.flush()
                kb_row.file_count = (
                    await session.scalar(
                        select(func.count())
                        .select_from(KnowledgeFile)
                        .where(KnowledgeFile.kb_id == kb_row.id)
                    )
                    or 0
                )
                await asyncio.to_thread(store.save)
                await session.commit()
        if refresh and kb.hybrid:
            self.schedule_bm25(kb_name)
        return failed

    async def list_files(self, kb_name: str) -> list[FileSummary]:
        """Files in the database and files only in the folder (Chatchat's KB page shows both)."""
        content = self.paths.content_dir(kb_name)
        async with self.db() as session:
            kb_row = await self._kb_row(session, kb_name)
            rows = (
                await session.scalars(
                    select(KnowledgeFile)
                    .where(KnowledgeFile.kb_id == kb_row.id)
                    .order_by(KnowledgeFile.file_name)
                )
            ).all()
        on_disk = (
            {p.name for p in content.iterdir() if p.is_file() and not p.name.startswith(".")}
            if content.is_dir()
            else set()
        )
        files = [
            FileSummary(
                r.file_name,
                r.file_ext,
                r.file_size,
                r.file_mtime,
                r.document_loader_name,
                r.text_splitter_name,
                r.file_version,
                r.docs_count,
                r.custom_docs,
                r.file_name in on_disk,
                True,
                r.created_at,
            )
            for r in rows
        ]
        known = {r.file_name for r in rows}
        for name in sorted(on_disk - known):
            stat = (content / name).stat()
            files.append(
                FileSummary(
                    name,
                    Path(name).suffix.lower(),
                    stat.st_size,
                    stat.st_mtime,
                    "",
                    "",
                    0,
                    0,
                    False,
                    True,
                    False,
                )
            )
        return files

    async def file_doc_ids(self, kb_name: str, file_name: str) -> list[str]:
        async with self.db() as session:
            kb_row = await self._kb_row(session, kb_name)
            row = await session.scalar(
                select(KnowledgeFile).where(
                    KnowledgeFile.kb_id == kb_row.id, KnowledgeFile.file_name == file_name
                )
            )
            if row is None:
                raise FileNotInKnowledgeBase(f"{file_name} is not in knowledge base {kb_name!r}")
            return list(
                (await session.scalars(select(FileDoc.doc_id).where(FileDoc.file_id == row.id))).all()
            )

    async def custom_docs_of(self, kb_name: str, file_name: str) -> list[dict[str, Any]] | None:
        """The stored chunks of a file indexed from custom docs, to keep them on update."""
        async with self.db() as session:
            kb_row = await self._kb_row(session, kb_name)
            row = await session.scalar(
                select(KnowledgeFile).where(
                    KnowledgeFile.kb_id == kb_row.id, KnowledgeFile.file_name == file_name
                )
            )
            if row is None or not row.custom_docs:
                return None
        kb = await self.get(kb_name)
        store = await self._store(kb)
        return [
            {"page_content": d.text, "metadata": d.metadata}
            for d in store.get(await self.file_doc_ids(kb_name, file_name))
        ]

    async def update_files(
        self,
        kb_name: str,
        file_names: list[str],
        options: SplitOptions,
        *,
        override_custom_docs: bool,
        custom_docs: dict[str, list[dict[str, Any]]] | None,
        refresh: bool = True,
    ) -> dict[str, str]:
        """Re-read files from the folder and replace their chunks exactly."""
        docs: dict[str, list[dict[str, Any]]] = dict(custom_docs or {})
        failed: dict[str, str] = {}
        names = []
        for name in file_names:
            try:
                path = self.paths.file_path(kb_name, name)
            except InvalidName as exc:
                failed[name] = str(exc)
                continue
            if name not in docs and not override_custom_docs:
                kept = await self.custom_docs_of(kb_name, name)
                if kept:
                    docs[name] = kept
            if name not in docs and not path.is_file():
                failed[name] = f"{name} is not in knowledge base {kb_name!r}"
                continue
            names.append(name)
        failed.update(await self.add_files(kb_name, names, options, docs, refresh=refresh))
        return failed

    async def update_docs_by_id(self, kb_name: str, docs: dict[str, dict[str, Any]]) -> list[str]:
        """Replace single chunks (text and metadata) in place; returns the ids that were not found."""
        kb = await self.get(kb_name)
        missing = []
        async with self._locks[kb_name]:
            store = await self._store(kb)
            present = {d.id: d for d in store.get(list(docs))}
            texts = {i: str(d.get("page_content", "")) for i, d in docs.items() if i in present}
            missing = [i for i in docs if i not in present]
            if texts:
                vectors = await self.embeddings.aembed_documents(kb.embed_model, list(texts.values()))
                for (doc_id, text), vector in zip(texts.items(), vectors, strict=True):
                    metadata = {**present[doc_id].metadata, **(docs[doc_id].get("metadata") or {})}
                    metadata["source"] = present[doc_id].metadata.get("source")
                    store.replace(doc_id, text, metadata, vector)
                await asyncio.to_thread(store.save)
        if kb.hybrid:
            self.schedule_bm25(kb_name)
        return missing

    async def recreate(
        self,
        kb_name: str,
        options: SplitOptions,
        *,
        embed_model: str | None = None,
        allow_empty_kb: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """Rebuild the KB's index from its content folder, one progress event per file."""
        kb = await self.get(kb_name)
        if embed_model and embed_model != kb.embed_model:
            self.embeddings.check(embed_model)
        content = self.paths.content_dir(kb_name)
        names = (
            sorted(p.name for p in content.iterdir() if p.is_file() and not p.name.startswith("."))
            if content.is_dir()
            else []
        )
        if not names and not allow_empty_kb:
            yield {"code": 404, "msg": f"knowledge base {kb_name!r} has no files to index"}
            return
        async with self._locks[kb_name]:
            async with self.db() as session:
                kb_row = await self._kb_row(session, kb_name)
                if embed_model:
                    kb_row.embed_model = embed_model
                await session.execute(delete(KnowledgeFile).where(KnowledgeFile.kb_id == kb_row.id))
                kb_row.file_count = 0
                await session.commit()
            kb = await self.get(kb_name)
            store = await self._store(kb)
            store.clear()
            await asyncio.to_thread(store.save)
        for i, name in enumerate(names, start=1):
            failed = await self.add_files(kb_name, [name], options, refresh=False)
            if failed:
                yield {
                    "code": 500,
                    "msg": f"({i} / {len(names)}): {name}: {failed[name]}",
                    "total": len(names),
                    "finished": i,
                    "doc": name,
                }
            else:
                yield {
                    "code": 200,
                    "msg": f"({i} / {len(names)}): {name}",
                    "total": len(names),
                    "finished": i,
                    "doc": name,
                }
        if kb.hybrid:
            self.schedule_bm25(kb_name)

    # ---- search ---------------------------------------------------------------------------

    async def list_docs(
        self, kb_name: str, *, file_name: str | None = None, metadata: dict[str, Any] | None = None
    ) -> list[SearchHit]:
        """Every chunk of the KB that matches the filters (search_docs with an empty query)."""
        kb = await self.get(kb_name)
        store = await self._store(kb)
        return [
            SearchHit(d.id, d.text, d.metadata, 0.0)
            for d in store.get(store.ids())
            if passes(d.metadata, file_name, metadata)
        ]

    async def search(
        self,
        kb_name: str,
        query: str,
        *,
        top_k: int,
        score_threshold: float,
        file_name: str | None = None,
        metadata: dict[str, Any] | None = None,
        hybrid: bool | None = None,
    ) -> list[SearchHit]:
        kb = await self.get(kb_name)
        store = await self._store(kb)
        vector = await self.embeddings.aembed_query(kb.embed_model, query)
        use_bm25 = kb.hybrid if hybrid is None else hybrid
        bm25 = None
        if use_bm25:
            directory = self.bm25_dir(kb_name, kb.embed_model)
            bm25 = await asyncio.to_thread(self.bm25.get, directory)
            if bm25 is None:
                self.schedule_bm25(kb_name)
                await self.wait_bm25(kb_name)
                bm25 = await asyncio.to_thread(self.bm25.get, directory)
        return await asyncio.to_thread(
            search,
            store,
            vector,
            query,
            top_k=top_k,
            score_threshold=score_threshold,
            file_name=file_name,
            metadata=metadata,
            bm25=bm25,
        )

    async def search_knowledge(
        self, query: str, top_k: int, kb_names: Collection[str] | None = None
    ) -> list[tuple[str, str]]:
        """``(kb/file, chunk)`` pairs from every knowledge base (or those in ``kb_names``), nearest first."""
        hits: list[tuple[float, str, str]] = []
        for kb in await self.list():
            if kb_names is not None and kb.kb_name not in kb_names:
                continue
            for hit in await self.search(
                kb.kb_name, query, top_k=top_k, score_threshold=self.settings.kb.score_threshold
            ):
                hits.append((hit.score, f"{kb.kb_name}/{hit.metadata.get('source', '')}", hit.text))
        return [(source, text) for _, source, text in sorted(hits, key=lambda h: h[0])[:top_k]]
