"""pgvector in the app's own PostgreSQL: chunks, vectors and a keyword index beside the catalogue.

One table holds every collection's chunks; each collection gets its own partial HNSW index
(cosine) on its vectors cast to its dimension, so a search walks only that knowledge base's
graph. Keywords are a ``tsvector`` of the jieba tokens (built from the token list as is, never
re-parsed, so Chinese words stay words) under a GIN index; hybrid search fuses the two
rankings by reciprocal rank in one SQL statement. Writes run in the catalogue's transaction,
so rows and chunks commit together, and nothing is cached in the process: any number of
backends serve the same collections. The table and the extension are created on first use.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.knowledge_base.errors import StoreUnavailable
from server.knowledge_base.locks import advisory_key
from server.knowledge_base.stores.base import (
    Candidates,
    ChunkFilter,
    ChunkIn,
    ScoredChunk,
    StoreCapabilities,
    StoredChunk,
    Undo,
    VectorStore,
    nothing_to_undo,
)
from server.knowledge_base.stores.pgvector_reads import PgVectorReads

TABLE = "kb_chunk"
_COLLECTION = re.compile(r"^[0-9a-f]{32}$")
MAX_POSITION = 16383  # the largest position a tsvector keeps
RRF_K = 60
ANALYZE_AFTER = 2000  # a write of this many chunks refreshes the planner's statistics

SCHEMA = [
    "CREATE EXTENSION IF NOT EXISTS vector",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        collection varchar(32) NOT NULL,
        id varchar(50) NOT NULL,
        source text NOT NULL,
        text text NOT NULL,
        metadata jsonb NOT NULL,
        tokens tsvector NOT NULL,
        embedding vector NOT NULL,
        PRIMARY KEY (collection, id)
    )""",
    f"CREATE INDEX IF NOT EXISTS ix_{TABLE}_source ON {TABLE} (collection, source)",
    f"CREATE INDEX IF NOT EXISTS ix_{TABLE}_tokens ON {TABLE} USING gin (tokens)",
]
_schema_ready: set[str] = set()  # database URLs whose schema this process has checked


def vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(map(repr, np.asarray(vector, dtype=np.float32).tolist())) + "]"


def _as_vector(vector: np.ndarray) -> np.ndarray:
    """A query vector as pgvector's codec binds it (binary float4)."""
    return np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(-1))


def _quote(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(tokens: Sequence[str]) -> str:
    """The tokens as a tsvector literal (lexeme:positions), taken as they are, without a parser."""
    positions: dict[str, list[int]] = {}
    for i, token in enumerate(tokens, start=1):
        if token:
            positions.setdefault(token, []).append(min(i, MAX_POSITION))
    return " ".join(f"{_quote(t)}:{','.join(map(str, sorted(set(p))))}" for t, p in positions.items())


def tsquery_literal(tokens: Sequence[str]) -> str:
    """Any of the tokens (OR), as a tsquery literal."""
    return " | ".join(_quote(t) for t in dict.fromkeys(t for t in tokens if t))


class PgVectorStore(VectorStore):
    vs_type = "pgvector"
    capabilities = StoreCapabilities(
        keyword_search=True, hybrid_search=True, transactional=True, shared=True, vectors=True, listing=True
    )

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        collection: str,
        *,
        ef_search: int = 100,
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 64,
        hnsw_build_memory_mb: int = 512,
        reads: PgVectorReads | None = None,
    ) -> None:
        if not _COLLECTION.fullmatch(collection):
            raise ValueError(f"invalid collection key {collection!r}")
        self.db = db
        self.collection = collection
        self.ef_search = ef_search
        self.hnsw_m = hnsw_m
        self.hnsw_ef_construction = hnsw_ef_construction
        self.hnsw_build_memory_mb = hnsw_build_memory_mb
        self._dim: int | None = None  # a collection's dimension never changes (one embedder)
        self._indexed = False
        self._own_reads = reads is None  # a store made on its own opens (and closes) its own pool
        self.reads = reads or PgVectorReads(db.kw["bind"].url, ef_search=ef_search)

    @property
    def _index_name(self) -> str:
        return f"{TABLE}_hnsw_{self.collection}"

    # ---- schema ---------------------------------------------------------------------------

    async def _ready(self) -> None:
        url = str(self.db.kw["bind"].url)
        if url in _schema_ready:
            return
        async with self.db() as session:
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key("pgvector-schema")}
            )
            try:
                for statement in SCHEMA:
                    await session.execute(text(statement))
            except DBAPIError as exc:
                raise StoreUnavailable(
                    "pgvector is not available in this PostgreSQL (CREATE EXTENSION vector failed: "
                    f"{exc.orig}); install pgvector or use vs_type faiss"
                ) from exc
            await session.commit()
        _schema_ready.add(url)

    async def _dimension(self, session: AsyncSession) -> int | None:
        if self._dim is None:
            self._dim = await session.scalar(
                text(f"SELECT vector_dims(embedding) FROM {TABLE} WHERE collection = :c LIMIT 1"),
                {"c": self.collection},
            )
        return self._dim

    async def _ensure_index(self, session: AsyncSession, dim: int) -> None:
        if self._indexed:
            return
        # the graph is built in memory when it fits (the first bulk write builds it in one pass)
        await session.execute(text(f"SET LOCAL maintenance_work_mem = '{int(self.hnsw_build_memory_mb)}MB'"))
        await session.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS {self._index_name} ON {TABLE} USING hnsw "
                f"((embedding::vector({int(dim)})) vector_cosine_ops) "
                f"WITH (m = {int(self.hnsw_m)}, ef_construction = {int(self.hnsw_ef_construction)}) "
                f"WHERE collection = '{self.collection}'"
            )
        )
        self._indexed = True

    # ---- filters --------------------------------------------------------------------------

    def _where(self, where: ChunkFilter | None, params: dict[str, Any], alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        clauses = [f"{prefix}collection = '{self.collection}'"]
        if where is not None:
            if where.file_name:
                clauses.append(f"{prefix}source LIKE :file_name")
                params["file_name"] = where.file_name
            if where.files is not None:
                clauses.append(f"{prefix}source = ANY(:files)")
                params["files"] = sorted(where.files)
            if where.metadata:
                clauses.append(f"{prefix}metadata @> CAST(:meta AS jsonb)")
                params["meta"] = json.dumps(dict(where.metadata), ensure_ascii=False)
        return " AND ".join(clauses)

    def _where_args(self, where: ChunkFilter | None, args: list[Any], alias: str = "") -> str:
        """The same filter for the read pool's statements: ``$n`` parameters appended to ``args``."""
        prefix = f"{alias}." if alias else ""
        clauses = [f"{prefix}collection = '{self.collection}'"]
        if where is not None:
            if where.file_name:
                args.append(where.file_name)
                clauses.append(f"{prefix}source LIKE ${len(args)}")
            if where.files is not None:
                args.append(sorted(where.files))
                clauses.append(f"{prefix}source = ANY(${len(args)}::text[])")
            if where.metadata:
                args.append(json.dumps(dict(where.metadata), ensure_ascii=False))
                clauses.append(f"{prefix}metadata @> ${len(args)}::text::jsonb")
        return " AND ".join(clauses)

    async def _read_dimension(self) -> int | None:
        if self._dim is None:
            self._dim = await self.reads.fetchval(
                f"SELECT vector_dims(embedding) FROM {TABLE} WHERE collection = $1 LIMIT 1", self.collection
            )
        return self._dim

    # ---- VectorStore ----------------------------------------------------------------------

    async def write(
        self, session: AsyncSession, *, delete: Sequence[str] = (), upsert: Sequence[ChunkIn] = ()
    ) -> Undo:
        await self._ready()
        gone = sorted({*delete, *(c.id for c in upsert)})
        if gone:
            await session.execute(
                text(f"DELETE FROM {TABLE} WHERE collection = :c AND id = ANY(:ids)"),
                {"c": self.collection, "ids": gone},
            )
        if upsert:
            dim = int(np.asarray(upsert[0].vector).shape[-1])
            known = await self._dimension(session)
            if known is not None and known != dim:
                raise ValueError(f"vector size {dim} does not match the collection ({known})")
            await session.execute(
                text(
                    f"INSERT INTO {TABLE} (collection, id, source, text, metadata, tokens, embedding) VALUES "
                    "(:c, :id, :source, :text, CAST(:metadata AS jsonb), CAST(:tokens AS tsvector), "
                    "CAST(:embedding AS vector))"
                ),
                [
                    {
                        "c": self.collection,
                        "id": chunk.id,
                        "source": str(chunk.metadata.get("source", "")),
                        "text": chunk.text,
                        "metadata": json.dumps(chunk.metadata, ensure_ascii=False),
                        "tokens": tsvector_literal(chunk.tokens),
                        "embedding": vector_literal(chunk.vector),
                    }
                    for chunk in upsert
                ],
            )
            self._dim = dim
            # after the rows: the first write of a collection builds its graph in one pass (much faster
            # than growing it row by row); later rows join the existing graph
            await self._ensure_index(session, dim)
            if len(upsert) >= ANALYZE_AFTER:  # fresh statistics, or the planner skips the keyword index
                await session.execute(text(f"ANALYZE {TABLE}"))
        return nothing_to_undo

    async def get(self, ids: Sequence[str]) -> list[StoredChunk]:
        if not ids:
            return []
        await self._ready()
        rows = await self.reads.fetch(
            f"SELECT id, text, metadata FROM {TABLE} WHERE collection = $1 AND id = ANY($2::text[])",
            self.collection,
            list(ids),
        )
        found = {r["id"]: StoredChunk(r["id"], r["text"], r["metadata"]) for r in rows}
        return [found[i] for i in ids if i in found]

    async def search(
        self, vector: np.ndarray, k: int, *, where: ChunkFilter | None = None
    ) -> list[ScoredChunk]:
        await self._ready()
        dim = await self._read_dimension()
        if dim is None or k <= 0:
            return []
        args: list[Any] = [_as_vector(vector), k]
        clause = self._where_args(where, args)
        rows = await self.reads.fetch(
            f"SELECT id, text, metadata, embedding::vector({dim}) <=> $1::vector({dim}) AS d "
            f"FROM {TABLE} WHERE {clause} ORDER BY d LIMIT $2",
            *args,
        )
        return [ScoredChunk(r["id"], r["text"], r["metadata"], float(r["d"]), None, ["vector"]) for r in rows]

    async def keyword_search(
        self, tokens: Sequence[str], k: int, *, where: ChunkFilter | None = None
    ) -> list[tuple[str, float]]:
        query = tsquery_literal(tokens)
        if not query:
            return []
        await self._ready()
        args: list[Any] = [query, k]
        clause = self._where_args(where, args)
        rows = await self.reads.fetch(
            f"SELECT id, ts_rank(tokens, $1::text::tsquery) AS s FROM {TABLE} "
            f"WHERE {clause} AND tokens @@ $1::text::tsquery ORDER BY s DESC LIMIT $2",
            *args,
        )
        return [(r["id"], float(r["s"])) for r in rows]

    async def candidates(
        self, vector: np.ndarray, tokens: Sequence[str], pool: int, *, where: ChunkFilter | None = None
    ) -> Candidates:
        """Both rankings and every candidate's text and true distance in one statement."""
        query = tsquery_literal(tokens)
        if not query:
            hits = await self.search(vector, pool, where=where)
            return Candidates({c.id: c for c in hits}, [c.id for c in hits], [])
        await self._ready()
        dim = await self._read_dimension()
        if dim is None or pool <= 0:
            return Candidates({}, [], [])
        args: list[Any] = [_as_vector(vector), query, pool]
        clause = self._where_args(where, args)
        distance = f"embedding::vector({dim}) <=> $1::vector({dim})"
        rows = await self.reads.fetch(
            f"""
            {self._ranked(distance, clause)}, ids AS (
                SELECT coalesce(v.id, w.id) AS id, v.r AS vr, w.r AS wr, w.s AS ws
                FROM v FULL OUTER JOIN w ON v.id = w.id
            )
            SELECT c.id, c.text, c.metadata, c.{distance} AS d, ids.vr, ids.wr, ids.ws
            FROM ids JOIN {TABLE} c ON c.collection = '{self.collection}' AND c.id = ids.id
            """,
            *args,
        )
        chunks = {r["id"]: ScoredChunk(r["id"], r["text"], r["metadata"], float(r["d"])) for r in rows}
        vector_order = [
            r["id"] for r in sorted((r for r in rows if r["vr"] is not None), key=lambda r: r["vr"])
        ]
        keyword_hits = [
            (r["id"], float(r["ws"]))
            for r in sorted((r for r in rows if r["wr"] is not None), key=lambda r: r["wr"])
        ]
        return Candidates(chunks, vector_order, keyword_hits)

    @staticmethod
    def _ranked(distance: str, clause: str) -> str:
        """The two ranked candidate lists both hybrid queries start from, as CTEs: ``v`` (nearest)
        and ``w`` (keyword matches). ``$1`` is the vector, ``$2`` the tsquery, ``$3`` the pool."""
        return f"""WITH v AS (
                SELECT id, row_number() OVER (ORDER BY d) AS r FROM (
                    SELECT id, {distance} AS d FROM {TABLE} WHERE {clause} ORDER BY d LIMIT $3
                ) nearest
            ), w AS (
                SELECT id, s, row_number() OVER (ORDER BY s DESC) AS r FROM (
                    SELECT id, ts_rank(tokens, $2::text::tsquery) AS s FROM {TABLE}
                    WHERE {clause} AND tokens @@ $2::text::tsquery ORDER BY s DESC LIMIT $3
                ) matching
            )"""

    async def hybrid_search(
        self,
        vector: np.ndarray,
        tokens: Sequence[str],
        k: int,
        *,
        pool: int,
        where: ChunkFilter | None = None,
    ) -> list[ScoredChunk]:
        query = tsquery_literal(tokens)
        if not query:
            return await self.search(vector, pool, where=where)
        await self._ready()
        dim = await self._read_dimension()
        if dim is None:
            return []
        args: list[Any] = [_as_vector(vector), query, pool]
        clause = self._where_args(where, args)
        distance = f"embedding::vector({dim}) <=> $1::vector({dim})"
        rows = await self.reads.fetch(
            f"""
            {self._ranked(distance, clause)}, fused AS (
                SELECT coalesce(v.id, w.id) AS id,
                       coalesce(1.0 / ({RRF_K} + v.r), 0) + coalesce(1.0 / ({RRF_K} + w.r), 0) AS rrf,
                       v.id IS NOT NULL AS by_vector, w.id IS NOT NULL AS by_keyword
                FROM v FULL OUTER JOIN w ON v.id = w.id
            )
            SELECT c.id, c.text, c.metadata, c.{distance} AS d,
                   fused.rrf, fused.by_vector, fused.by_keyword
            FROM fused JOIN {TABLE} c ON c.collection = '{self.collection}' AND c.id = fused.id
            ORDER BY fused.rrf DESC, d
            """,
            *args,
        )
        return [
            ScoredChunk(
                r["id"],
                r["text"],
                r["metadata"],
                float(r["d"]),
                float(r["rrf"]),
                [name for name, ok in (("vector", r["by_vector"]), ("keyword", r["by_keyword"])) if ok],
            )
            for r in rows
        ]

    async def distances(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        if not ids:
            return {}
        await self._ready()
        dim = await self._read_dimension()
        if dim is None:
            return {}
        rows = await self.reads.fetch(
            f"SELECT id, embedding::vector({dim}) <=> $1::vector({dim}) AS d FROM {TABLE} "
            "WHERE collection = $2 AND id = ANY($3::text[])",
            _as_vector(vector),
            self.collection,
            list(ids),
        )
        return {r["id"]: float(r["d"]) for r in rows}

    async def iterate(
        self, *, where: ChunkFilter | None = None, page_size: int = 1000, vectors: bool = False
    ) -> AsyncIterator[list[StoredChunk]]:
        await self._ready()
        after = ""
        columns = "id, text, metadata" + (
            ", embedding::text AS embedding, tokens::text AS tokens" if vectors else ""
        )
        while True:
            params: dict[str, Any] = {"after": after, "n": page_size}
            clause = self._where(where, params)
            async with self.db() as session:
                rows = (
                    await session.execute(
                        text(
                            f"SELECT {columns} FROM {TABLE} "
                            f"WHERE {clause} AND id > :after ORDER BY id LIMIT :n"
                        ),
                        params,
                    )
                ).all()
            if not rows:
                return
            yield [
                StoredChunk(
                    r.id,
                    r.text,
                    r.metadata,
                    np.asarray(json.loads(r.embedding), dtype=np.float32) if vectors else None,
                    _tokens_of(r.tokens) if vectors else None,
                )
                for r in rows
            ]
            after = rows[-1].id

    async def count(self) -> int:
        await self._ready()
        return int(
            await self.reads.fetchval(f"SELECT count(*) FROM {TABLE} WHERE collection = $1", self.collection)
            or 0
        )

    async def close(self) -> None:
        if self._own_reads:
            await self.reads.close()

    async def drop(self, session: AsyncSession | None = None) -> None:
        await self._ready()
        if session is None:
            async with self.db() as own:
                await self.drop(own)
                await own.commit()
            return
        await session.execute(text(f"DELETE FROM {TABLE} WHERE collection = :c"), {"c": self.collection})
        await session.execute(text(f"DROP INDEX IF EXISTS {self._index_name}"))
        self._dim, self._indexed = None, False


_LEXEME = re.compile(r"'((?:[^']|'')*)':([0-9,]+)")


def _tokens_of(tsvector: str) -> list[str]:
    """The token list back from a tsvector literal, in position order (a move keeps keywords)."""
    placed: list[tuple[int, str]] = []
    for lexeme, positions in _LEXEME.findall(tsvector):
        token = lexeme.replace("''", "'").replace("\\\\", "\\")
        placed += [(int(p), token) for p in positions.split(",")]
    return [token for _, token in sorted(placed)]
