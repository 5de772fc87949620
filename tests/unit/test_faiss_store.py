"""The FAISS store keeps ids, deletes exactly, and persists without pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from server.knowledge_base.embeddings import normalise
from server.knowledge_base.faiss_store import DOCS_FILE, INDEX_FILE, FaissStore


def test_add_search_delete_and_reload(tmp_path: Path) -> None:
    vectors = normalise(np.random.default_rng(0).standard_normal((5, 8)))
    store = FaissStore(tmp_path / "vs")
    ids = store.add([f"t{i}" for i in range(5)], [{"source": f"f{i}"} for i in range(5)], vectors)
    assert store.search(vectors[3], 1)[0][0] == ids[3]
    assert abs(store.search(vectors[3], 1)[0][1]) < 1e-5  # distance 1 - cosine of itself
    assert store.delete([ids[3], "999", "x"]) == 1
    assert ids[3] not in [i for i, _ in store.search(vectors[3], 5)]
    store.save()
    assert sorted(p.name for p in (tmp_path / "vs").iterdir()) == [DOCS_FILE, INDEX_FILE]
    assert b"\x80\x04" not in (tmp_path / "vs" / DOCS_FILE).read_bytes()[:2]
    reloaded = FaissStore(tmp_path / "vs")
    assert reloaded.count == 4
    assert [d.text for d in reloaded.get([ids[0], ids[3]])] == ["t0"]
    new = reloaded.add(["t5"], [{}], vectors[:1])
    assert int(new[0]) > max(int(i) for i in ids)  # ids are never reused


def test_replace_changes_text_and_vector(tmp_path: Path) -> None:
    vectors = normalise(np.eye(4, dtype=np.float32))
    store = FaissStore(None)
    ids = store.add(["a", "b"], [{}, {}], vectors[:2])
    store.replace(ids[0], "c", {"k": 1}, vectors[2])
    assert store.search(vectors[2], 1)[0][0] == ids[0]
    assert store.get([ids[0]])[0].text == "c"
