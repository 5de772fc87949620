"""Move a knowledge base to another vector store, keeping its files, chunk ids and catalogue rows.

The chunks are copied page by page into a new collection of the target store (with their
vectors when the source can give them, re-embedded from their text otherwise), then the
knowledge base's row points at the new collection in the same commit, then the old collection
is dropped. A failure before the commit drops the half-built copy and leaves the KB as it was.
"""

from __future__ import annotations

from sqlalchemy import select

from server.db.models.knowledge_base import KnowledgeBase, new_store_key
from server.knowledge_base.bm25_index import tokenize
from server.knowledge_base.catalog import collection_of
from server.knowledge_base.service import KnowledgeBaseService
from server.knowledge_base.stores.base import ChunkIn, StoredChunk
from server.knowledge_base.stores.factory import Collection

PAGE = 2000


def _chunk_in(chunk: StoredChunk) -> ChunkIn:
    """A stored chunk as the target store takes it (its vector is known by now)."""
    assert chunk.vector is not None
    tokens = chunk.tokens if chunk.tokens is not None else tokenize(chunk.text)
    return ChunkIn(chunk.id, chunk.text, chunk.metadata, chunk.vector, tokens)


async def move(service: KnowledgeBaseService, kb_name: str, vs_type: str) -> int:
    """Move ``kb_name`` into ``vs_type``; returns how many chunks were copied."""
    kb = await service.get(kb_name)
    service.check_vs_type(vs_type)
    if kb.vs_type == vs_type:
        return 0
    source = await service.store(kb)
    key = new_store_key()
    directory = service.paths.vector_store_dir(kb_name, kb.embed_model) if vs_type == "faiss" else None
    target_collection = Collection(vs_type, key, kb.embed_model, directory)
    target = await service.stores.get(target_collection)
    copied = 0
    async with service.db() as session, service.writer.locks.hold(kb_name, session):
        try:
            async for page in source.iterate(page_size=PAGE, vectors=True):
                without = [c for c in page if c.vector is None]
                if without:
                    vectors = await service.embeddings.aembed_documents(
                        kb.embed_model, [c.text for c in without]
                    )
                    for chunk, vector in zip(without, vectors, strict=True):
                        chunk.vector = vector
                chunks = [_chunk_in(c) for c in page]
                await target.write(session, upsert=chunks)
                copied += len(chunks)
            row = await session.scalar(select(KnowledgeBase).where(KnowledgeBase.kb_name == kb_name))
            assert row is not None
            row.vs_type, row.store_key = vs_type, key
            await session.commit()
        except BaseException:
            await session.rollback()
            await service.stores.forget(target_collection)
            if not target.capabilities.transactional:
                await target.drop()
            raise
    old = collection_of(kb, service.paths)
    await service.stores.forget(old)
    if source.capabilities.transactional:
        async with service.db() as session:
            await source.drop(session)
            await session.commit()
    elif old.directory != directory:  # FAISS -> FAISS never happens (same vs_type)
        await source.drop()
    return copied


__all__ = ["move"]
