"""File chat's temporary knowledge bases: indexed uploads that expire, are evicted, and stay small."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from configs import Settings
from server.knowledge_base.embeddings import EmbeddingPool
from server.knowledge_base.errors import InvalidName, KnowledgeBaseNotFound, PayloadTooLarge
from server.knowledge_base.service import SplitOptions
from server.knowledge_base.temp_kb import TempKnowledgeBases

SPLIT = SplitOptions(chunk_size=250, chunk_overlap=50, zh_title_enhance=False)
OXYGEN = ("station.txt", b"The Zorvex research station keeps its spare oxygen tanks in the blue hangar.")
GATE = ("gate.md", "# 访客\n\n访客必须在北门登记后才能进入。".encode())


@pytest.fixture(scope="module")
def embeddings() -> EmbeddingPool:
    return EmbeddingPool(Settings())  # the default embedder, loaded once for the module


def temp_kbs(tmp_path: Path, embeddings: EmbeddingPool, **kb: Any) -> TempKnowledgeBases:
    return TempKnowledgeBases(Settings(data_dir=tmp_path / "data", kb=kb), embeddings)


def add(kbs: TempKnowledgeBases, *files: tuple[str, bytes], prev: str | None = None) -> str:
    kb_id, failed = asyncio.run(kbs.add(list(files), SPLIT, prev))
    assert failed == {}
    return kb_id


def sources(kbs: TempKnowledgeBases, kb_id: str, query: str) -> list[str]:
    hits = asyncio.run(kbs.search(kb_id, query, top_k=3, score_threshold=1.0))
    return [h.metadata["source"] for h in hits]


def test_uploads_are_indexed_under_an_id_and_answer_a_search(
    tmp_path: Path, embeddings: EmbeddingPool
) -> None:
    kbs = temp_kbs(tmp_path, embeddings)
    kb_id = add(kbs, OXYGEN)
    assert len(kb_id) == 32
    assert sources(kbs, kb_id, "Where are the oxygen tanks kept?") == ["station.txt"]
    assert kbs.file_path(kb_id, "station.txt").read_bytes() == OXYGEN[1]
    # the same id takes more files, and searches see both
    assert add(kbs, GATE, prev=kb_id) == kb_id
    assert kbs.get(kb_id).files == ["station.txt", "gate.md"]
    assert sources(kbs, kb_id, "访客从哪个门进入？")[0] == "gate.md"


def test_an_unreadable_file_is_reported_and_the_others_go_in(
    tmp_path: Path, embeddings: EmbeddingPool
) -> None:
    kbs = temp_kbs(tmp_path, embeddings)
    kb_id, failed = asyncio.run(kbs.add([("broken.pdf", b"not a pdf at all"), OXYGEN], SPLIT))
    assert list(failed) == ["broken.pdf"] and failed["broken.pdf"]
    assert kbs.get(kb_id).files == ["station.txt"]


def test_an_unused_upload_expires_and_its_files_are_removed(
    tmp_path: Path, embeddings: EmbeddingPool
) -> None:
    kbs = temp_kbs(tmp_path, embeddings, temp_expiry_s=60)
    kept, dropped = add(kbs, OXYGEN), add(kbs, GATE)
    kbs.get(kept).used -= 50  # used 50 s ago: still young
    kbs.get(dropped).used -= 61  # unused for longer than temp_expiry_s
    with pytest.raises(KnowledgeBaseNotFound, match="does not exist or has expired"):
        kbs.get(dropped)
    assert not kbs.paths.temp_dir(dropped).exists()
    assert kbs.get(kept).files == ["station.txt"]


def test_a_use_renews_the_expiry(tmp_path: Path, embeddings: EmbeddingPool) -> None:
    kbs = temp_kbs(tmp_path, embeddings, temp_expiry_s=60)
    kb_id = add(kbs, OXYGEN)
    kbs.get(kb_id).used -= 50
    assert sources(kbs, kb_id, "oxygen tanks") == ["station.txt"]  # a search is a use
    kbs.get(kb_id).used -= 50  # 100 s after the upload, 50 s after the search
    assert kbs.get(kb_id).files == ["station.txt"]


def test_past_the_limit_the_least_recently_used_upload_is_evicted(
    tmp_path: Path, embeddings: EmbeddingPool
) -> None:
    kbs = temp_kbs(tmp_path, embeddings, temp_max_kbs=2)
    first, second = add(kbs, OXYGEN), add(kbs, GATE)
    kbs.get(first)  # first is now the more recently used
    third = add(kbs, ("third.txt", b"A third upload."))
    with pytest.raises(KnowledgeBaseNotFound):
        kbs.get(second)
    assert not kbs.paths.temp_dir(second).exists()
    assert kbs.get(first).files == ["station.txt"] and kbs.get(third).files == ["third.txt"]


def test_an_upload_over_the_size_limit_is_refused_and_nothing_is_kept(
    tmp_path: Path, embeddings: EmbeddingPool
) -> None:
    kbs = temp_kbs(tmp_path, embeddings, temp_max_mb=0.001)  # 1048 bytes
    with pytest.raises(PayloadTooLarge, match="at most 0.001 MB"):
        asyncio.run(kbs.add([("big.txt", b"x" * 2000)], SPLIT))
    assert not (tmp_path / "data" / "temp").exists() or not any((tmp_path / "data" / "temp").iterdir())
    kb_id = add(kbs, OXYGEN)
    with pytest.raises(PayloadTooLarge):  # the limit counts what the upload already holds
        asyncio.run(kbs.add([("more.txt", b"y" * 1000)], SPLIT, kb_id))
    assert kbs.get(kb_id).files == ["station.txt"]
    assert not kbs.paths.temp_file_path(kb_id, "more.txt").exists()


def test_ids_are_checked_before_anything_is_looked_up(tmp_path: Path, embeddings: EmbeddingPool) -> None:
    kbs = temp_kbs(tmp_path, embeddings)
    for bad in ("../etc", "x" * 32, ""):
        with pytest.raises(InvalidName):
            kbs.get(bad)
    with pytest.raises(KnowledgeBaseNotFound):
        kbs.get(uuid.uuid4().hex)
    kb_id = add(kbs, OXYGEN)
    with pytest.raises(InvalidName):
        kbs.file_path(kb_id, "../station.txt")


def test_clear_removes_every_upload(tmp_path: Path, embeddings: EmbeddingPool) -> None:
    kbs = temp_kbs(tmp_path, embeddings)
    ids = [add(kbs, OXYGEN), add(kbs, GATE)]
    kbs.clear()
    for kb_id in ids:
        assert not kbs.paths.temp_dir(kb_id).exists()
        with pytest.raises(KnowledgeBaseNotFound):
            kbs.get(kb_id)
