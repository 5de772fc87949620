"""Wire the knowledge-base services into the backend and create the ``samples`` KB on first start."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs import Settings
from server.knowledge_base.embeddings import EmbeddingPool
from server.knowledge_base.errors import Conflict
from server.knowledge_base.ingest import SplitOptions
from server.knowledge_base.service import KnowledgeBaseService
from server.knowledge_base.temp_kb import TempKnowledgeBases

logger = logging.getLogger(__name__)

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
SAMPLES_MARKER = ".samples_created"


def default_split(settings: Settings) -> SplitOptions:
    return SplitOptions(
        settings.kb.chunk_size, settings.kb.chunk_overlap, settings.kb.zh_title_enhance, settings.kb.limits
    )


async def create_samples(service: KnowledgeBaseService, settings: Settings, *, force: bool = False) -> bool:
    """Create the samples KB once per data dir (a user who deletes it does not get it back)."""
    name = settings.kb.samples_kb
    if not name:
        return False
    marker = service.paths.root / SAMPLES_MARKER
    if (marker.exists() and not force) or await service.exists(name):
        return False
    await service.create(name, info="Sample documents in Chinese and English to try knowledge-base chat.")
    content = service.paths.content_dir(name)
    files = sorted(p for p in SAMPLES_DIR.iterdir() if p.is_file())
    for path in files:
        shutil.copyfile(path, content / path.name)
    failed = await service.add_files(name, [p.name for p in files], default_split(settings))
    if failed:
        logger.warning("some sample documents could not be indexed: %s", failed)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("the samples knowledge base was created once; delete this file to create it again\n")
    return True


async def create_samples_safely(service: KnowledgeBaseService, settings: Settings) -> None:
    """The samples are a convenience: failing to build them must not keep the backend from starting."""
    try:
        await create_samples(service, settings)
    except Conflict:  # another backend of the same site created it at the same moment
        logger.info("the %r knowledge base was created by another backend", settings.kb.samples_kb)
    except Exception:
        logger.exception("could not create the %r knowledge base", settings.kb.samples_kb)


def build_services(
    settings: Settings, db: async_sessionmaker[AsyncSession]
) -> tuple[KnowledgeBaseService, TempKnowledgeBases]:
    embeddings = EmbeddingPool(settings)
    service = KnowledgeBaseService(settings, db, embeddings)
    return service, TempKnowledgeBases(settings, db, embeddings, service.stores)
