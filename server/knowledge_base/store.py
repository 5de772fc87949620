"""The seam every vector store implements (FAISS now; PGVector, Chroma, Milvus can follow).

Distances are ``1 - cosine`` (0..2, lower is closer), Chatchat's ``score`` convention.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class StoredDoc:
    id: str
    text: str
    metadata: dict[str, Any]


class VectorStore(ABC):
    @property
    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def ids(self) -> list[str]: ...

    @abstractmethod
    def add(self, texts: list[str], metadatas: list[dict[str, Any]], vectors: np.ndarray) -> list[str]: ...

    @abstractmethod
    def delete(self, ids: list[str]) -> int: ...

    @abstractmethod
    def replace(self, doc_id: str, text: str, metadata: dict[str, Any], vector: np.ndarray) -> None: ...

    @abstractmethod
    def get(self, ids: list[str]) -> list[StoredDoc]: ...

    @abstractmethod
    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` nearest chunks as (id, distance), nearest first."""

    @abstractmethod
    def distances(self, vector: np.ndarray, ids: list[str]) -> dict[str, float]:
        """Distances of given chunks to ``vector`` (to score keyword hits in hybrid search)."""

    @abstractmethod
    def clear(self) -> None: ...

    @abstractmethod
    def save(self) -> None: ...
