"""Rerankers: a stage after fusion that scores each (query, chunk) pair again, 0..1, higher is better.

Engines, chosen in settings by name (``rerankers``) like the embedders:

- ``cross-encoder``: a sentence-transformers ``CrossEncoder`` from a local directory (bge-reranker,
  jina, mxbai, ...). Nothing is fetched from a hub: a missing path is a clear error, never a
  silent fallback. Its scores go through a sigmoid when the model's head gives logits.
- ``remote``: the common HTTP shape ``POST {api_base_url}/rerank`` ``{model, query, documents,
  top_n}`` -> ``{results: [{index, relevance_score}]}`` (vLLM, Xinference, llama.cpp, TEI-compatible
  servers, and this backend's own ``/v1/rerank``). Results are re-sorted here: some servers do not.
- ``llm``: the chat model rates each chunk from 0 to 10; needs no extra model (slow, and only as
  good as the model).

No reranker ships inside a package, so reranking is off by default.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx

from configs import Settings
from configs.settings import RerankerSettings
from server.core.errors import InvalidInput, Unavailable, UpstreamError
from server.knowledge_base.retrieval import SearchHit

LLM_RERANK_PROMPT = (
    "Rate how well the passage answers the question, from 0 (not at all) to 10 (fully). "
    "Reply with the number only.\n\nQuestion: {query}\n\nPassage: {passage}\n\nRating:"
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


def to_unit(scores: Sequence[float]) -> list[float]:
    """Scores as 0..1: kept when they already are, else a sigmoid (logits of a cross-encoder head)."""
    if all(0.0 <= s <= 1.0 for s in scores):
        return [float(s) for s in scores]
    return [sigmoid(float(s)) for s in scores]


class Reranker(ABC):
    def __init__(self, name: str, config: RerankerSettings) -> None:
        self.name = name
        self.config = config

    @abstractmethod
    async def scores(self, query: str, documents: Sequence[str]) -> list[float]:
        """One 0..1 score per document, in the documents' order."""


class CrossEncoderReranker(Reranker):
    def __init__(self, name: str, config: RerankerSettings) -> None:
        super().__init__(name, config)
        if not config.path or not Path(config.path).expanduser().is_dir():
            raise InvalidInput(
                f"reranker {name!r} (engine cross-encoder) needs path: a local model directory "
                f"(got {config.path!r}); models are never downloaded"
            )
        from sentence_transformers import CrossEncoder

        self._model = CrossEncoder(
            str(Path(config.path).expanduser()), device=config.device, local_files_only=True
        )
        self._lock = threading.Lock()

    def _predict(self, query: str, documents: Sequence[str]) -> list[float]:
        with self._lock:
            raw = self._model.predict(
                [(query, d) for d in documents],
                batch_size=self.config.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
        return to_unit([float(s) for s in raw.reshape(len(documents), -1)[:, -1]])

    async def scores(self, query: str, documents: Sequence[str]) -> list[float]:
        if not documents:
            return []
        return await asyncio.to_thread(self._predict, query, documents)


class RemoteReranker(Reranker):
    TIMEOUT_S = 60.0

    def __init__(self, name: str, config: RerankerSettings) -> None:
        super().__init__(name, config)
        if not config.api_base_url:
            raise InvalidInput(f"reranker {name!r} (engine remote) needs api_base_url")
        self._url = config.api_base_url.rstrip("/") + "/rerank"
        key = config.api_key.get_secret_value() if config.api_key else None
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}

    async def scores(self, query: str, documents: Sequence[str]) -> list[float]:
        if not documents:
            return []
        body = {
            "model": self.config.remote_model_name or self.name,
            "query": query,
            "documents": list(documents),
            "top_n": len(documents),
        }
        where = f"reranker {self.name!r} at {self._url}"
        try:
            async with httpx.AsyncClient(timeout=self.TIMEOUT_S, trust_env=False) as client:
                response = await client.post(self._url, json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{where} is unreachable: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise Unavailable(f"{where} answered HTTP {response.status_code}: {response.text[:300]}")
        if response.status_code >= 400:
            raise UpstreamError(f"{where} answered HTTP {response.status_code}: {response.text[:300]}")
        try:
            results = response.json()["results"]
            pairs = [(int(r["index"]), float(r["relevance_score"])) for r in results]
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamError(f"{where} answered something that is not rerank results") from exc
        if any(not 0 <= i < len(documents) for i, _ in pairs):
            raise UpstreamError(f"{where} answered an index outside the {len(documents)} documents")
        unit = to_unit([s for _, s in pairs])
        out = [0.0] * len(documents)  # a document the server left out ranks last
        for (index, _), score in zip(pairs, unit, strict=True):
            out[index] = score
        return out


Ask = Callable[[str | None, str], Awaitable[str]]  # (chat model or default, prompt) -> its whole answer


class LLMReranker(Reranker):
    def __init__(self, name: str, config: RerankerSettings, ask: Ask | None) -> None:
        super().__init__(name, config)
        if ask is None:
            raise InvalidInput(f"reranker {name!r} (engine llm) needs a chat model, and none is connected")
        self._ask = ask

    async def _one(self, query: str, passage: str) -> float:
        answer = await self._ask(
            self.config.llm_model, LLM_RERANK_PROMPT.format(query=query, passage=passage[:2000])
        )
        found = _NUMBER.search(answer or "")
        return min(10.0, float(found.group())) / 10.0 if found else 0.0

    async def scores(self, query: str, documents: Sequence[str]) -> list[float]:
        return list(await asyncio.gather(*(self._one(query, d) for d in documents)))


class RerankerPool:
    """The configured rerankers, each built on first use and kept."""

    def __init__(self, settings: Settings, ask: Ask | None = None) -> None:
        self._configs = settings.rerankers
        self._default = settings.kb.reranker
        self._ask = ask
        self._loaded: dict[str, Reranker] = {}
        self._lock = threading.Lock()

    def connect_llm(self, ask: Ask) -> None:
        """The API layer hands in its chat model for the ``llm`` engine."""
        self._ask = ask

    @property
    def names(self) -> list[str]:
        return list(self._configs)

    def get(self, name: str | None = None) -> Reranker:
        name = name or self._default
        if not name:
            raise InvalidInput("reranking was asked for, but no reranker is configured (kb.reranker)")
        if name not in self._configs:
            raise InvalidInput(f"reranker {name!r} is not configured; available: {', '.join(self._configs)}")
        with self._lock:
            if name not in self._loaded:
                config = self._configs[name]
                if config.engine == "cross-encoder":
                    self._loaded[name] = CrossEncoderReranker(name, config)
                elif config.engine == "remote":
                    self._loaded[name] = RemoteReranker(name, config)
                else:
                    self._loaded[name] = LLMReranker(name, config, self._ask)
            return self._loaded[name]


async def rerank(
    reranker: Reranker, query: str, hits: list[SearchHit], *, top_n: int, min_relevance: float = 0.0
) -> list[SearchHit]:
    """Score the candidates again, best first; ``relevance`` becomes the reranker's score."""
    if not hits:
        return []
    scores = await reranker.scores(query, [h.text for h in hits])
    for hit, score in zip(hits, scores, strict=True):
        hit.scores["rerank"] = round(score, 6)
        hit.relevance = round(score, 6)
    ranked = sorted(hits, key=lambda h: -h.relevance)  # stable: fusion order breaks ties
    return [h for h in ranked if h.relevance >= min_relevance][:top_n]
