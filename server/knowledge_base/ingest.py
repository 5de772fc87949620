"""Read, split, tokenise and embed files into chunks ready to be written (CPU work, in threads).

Nothing here touches the catalogue or a store: a prepared file is written under the knowledge
base's lock by :mod:`server.knowledge_base.writer`, so two uploads overlap their slow parts.
Each chunk gets its id here, a fresh UUID: ids are never reused, in a knowledge base or across them.
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from configs.settings import IngestLimitSettings
from server.core.low_priority import run_in
from server.knowledge_base.bm25_index import tokenize
from server.knowledge_base.embeddings import EmbeddingPool
from server.knowledge_base.errors import InvalidName, LimitExceeded, LoaderError
from server.knowledge_base.loaders import load_file, loader_name
from server.knowledge_base.splitter import Chunk, split_text
from server.knowledge_base.stores.base import ChunkIn
from server.knowledge_base.watch import FileWatch, IngestWatch

EMBED_BATCH = 64  # chunks embedded between two progress reports (and chances to stop)

CUSTOM_SPLITTER = "custom"


@dataclass
class SplitOptions:
    """How to split, and the limits (``kb.limits``) reading and splitting one file run under."""

    chunk_size: int
    chunk_overlap: int
    zh_title_enhance: bool
    limits: IngestLimitSettings = field(default_factory=IngestLimitSettings)
    watch: IngestWatch | None = None  # the job this work belongs to: its progress and cancel flag
    # where the job's CPU work runs (threads below serving's priority); None = the default threads
    executor: Executor | None = None

    def file_watch(self, name: str) -> FileWatch:
        """The watch one file runs under: the job's, and ``kb.limits.max_seconds_per_file``."""
        if self.watch is None:
            return FileWatch(name, self.limits.max_seconds_per_file)
        return self.watch.file(name, self.limits.max_seconds_per_file)


@dataclass
class PreparedFile:
    """A file read, split and embedded, ready to be written under the KB lock."""

    name: str
    loader: str
    splitter: str
    chunks: list[ChunkIn]
    size: int
    mtime: float
    custom: bool = False
    source: Path | None = None  # where the file is now (a staged upload moves into the content folder)


def new_chunk_id() -> str:
    return uuid.uuid4().hex


def prepare_chunks(
    path: Path,
    name: str,
    options: SplitOptions,
    custom: list[dict[str, Any]] | None = None,
    watch: FileWatch | None = None,
) -> tuple[list[Chunk], str, str]:
    """Load and split one file (or take its custom docs); CPU and disk work, run in a thread."""
    watch = watch or options.file_watch(name)
    if custom:
        chunks = [
            Chunk(str(d.get("page_content", "")), -1, -1, dict(d.get("metadata") or {}))
            for d in custom
            if str(d.get("page_content", "")).strip()
        ]
        if not chunks:
            raise LoaderError(f"the custom docs of {name} hold no text")
        if len(chunks) > options.limits.max_chunks:
            raise LimitExceeded(
                f"{name}: {len(chunks)} custom docs; at most {options.limits.max_chunks} per file "
                "(kb.limits.max_chunks)"
            )
        return chunks, "CustomDocs", CUSTOM_SPLITTER
    loaded = load_file(path, options.limits, name, watch)
    chunks, splitter = split_text(
        loaded.text,
        markdown=path.suffix.lower() in (".md", ".markdown"),
        chunk_size=options.chunk_size,
        chunk_overlap=options.chunk_overlap,
        zh_title_enhance=options.zh_title_enhance,
    )
    if not chunks:
        raise LoaderError(f"no text found in {name}")
    if loaded.ocr_pages:  # every chunk says which pages of its file were read by OCR, not a text layer
        for chunk in chunks:
            chunk.metadata["ocr_pages"] = loaded.ocr_pages
    if len(chunks) > options.limits.max_chunks:
        raise LimitExceeded(
            f"{name}: splits into {len(chunks)} chunks; at most {options.limits.max_chunks} per file "
            "(kb.limits.max_chunks)"
        )
    watch.report(phase="embedding", chunks_total=len(chunks), chunks_done=0, ocr_pages=loaded.ocr_pages)
    return chunks, loaded.loader, splitter


async def embed_chunks(
    embeddings: EmbeddingPool,
    embed_model: str,
    chunks: list[Chunk],
    watch: FileWatch,
    job: Executor | None = None,
) -> np.ndarray:
    """The chunks' vectors, in batches: progress after each, and a point to stop between them."""
    texts = [c.text for c in chunks]
    watch.report(phase="embedding", chunks_total=len(texts))
    parts = []
    for start in range(0, len(texts), EMBED_BATCH):
        batch = texts[start : start + EMBED_BATCH]
        parts.append(await embeddings.aembed_documents(embed_model, batch, job=job))
        watch.report(chunks_done=min(len(texts), start + EMBED_BATCH))
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def chunk_metadata(file_name: str, chunk: Chunk) -> dict[str, Any]:
    metadata = {**chunk.metadata, "source": file_name}
    if chunk.start >= 0:
        metadata["start"], metadata["end"] = chunk.start, chunk.end
    return metadata


def to_chunks_in(file_name: str, chunks: list[Chunk], vectors: np.ndarray) -> list[ChunkIn]:
    return [
        ChunkIn(new_chunk_id(), c.text, chunk_metadata(file_name, c), vectors[i], tokenize(c.text))
        for i, c in enumerate(chunks)
    ]


async def prepare_files(
    embeddings: EmbeddingPool,
    embed_model: str,
    files: list[tuple[str, Path]],
    options: SplitOptions,
    custom_docs: dict[str, list[dict[str, Any]]],
    failed: dict[str, str],
) -> list[PreparedFile]:
    """Load, split and embed each ``(name, path)``, one file after the other.

    Each file runs under its own watch (``options.file_watch``): a file over
    ``kb.limits.max_seconds_per_file`` fails alone; a cancelled job raises IngestCancelled.
    """
    loaded: list[tuple[str, Path, list[Chunk], np.ndarray, str, str, os.stat_result | None]] = []
    for name, path in files:
        watch = options.file_watch(name)
        try:
            custom = custom_docs.get(name)
            if not custom and not path.is_file():
                raise LoaderError(f"{name} is not in the knowledge base's folder")
            if not custom:
                loader_name(path)  # unsupported types fail before any work
            chunks, loader, splitter = await run_in(
                options.executor, prepare_chunks, path, name, options, custom, watch
            )
            vectors = await embed_chunks(embeddings, embed_model, chunks, watch, options.executor)
            stat = path.stat() if path.is_file() else None
            loaded.append((name, path, chunks, vectors, loader, splitter, stat))
        except (LoaderError, InvalidName) as exc:
            failed[name] = str(exc)
            watch.note(phase="failed", error=str(exc))
    prepared = []
    for name, path, chunks, part, loader, splitter, stat in loaded:
        chunks_in = await run_in(options.executor, to_chunks_in, name, chunks, part)
        prepared.append(
            PreparedFile(
                name,
                loader,
                splitter,
                chunks_in,
                stat.st_size if stat else 0,
                stat.st_mtime if stat else 0.0,
                custom=loader == "CustomDocs",
                source=path if stat else None,
            )
        )
    return prepared
