"""The BM25 index: jieba tokens without stop words, ranking, saves, and one index per store generation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from server.knowledge_base.bm25_index import IDS_FILE, Bm25Index, tokenize
from server.knowledge_base.stores.base import ChunkIn
from server.knowledge_base.stores.faiss_store import FaissStore

TEXTS = {
    "1": "员工每年享有十五天带薪年假，年假需提前两周申请。",
    "2": "数据库备份每天凌晨两点进行，备份保留三十天。",
    "3": "The VPN gateway rotates its certificates every ninety days.",
    "4": "Visitors sign the logbook at the north gate.",
}


def index() -> Bm25Index:
    return Bm25Index.build(list(TEXTS), [tokenize(t) for t in TEXTS.values()])


def ask(built: Bm25Index, query: str, k: int, allowed: list[str] | None = None) -> list[tuple[str, float]]:
    return built.search(tokenize(query), k, allowed=allowed)


def test_tokens_are_lower_case_words_without_stop_words_or_punctuation() -> None:
    tokens = tokenize("什么是数据库备份？The Annual Leave policy, 2024!")
    assert {"数据库", "备份", "annual", "leave", "policy", "2024"} <= set(tokens)  # search mode: 数据 too
    assert not {"什么", "是", "the", "？", ",", "!"} & set(tokens)
    assert tokenize("的 了 and the") == []


def test_the_document_with_the_query_words_ranks_first() -> None:
    built = index()
    chinese = ask(built, "年假有几天", 4)
    assert chinese[0][0] == "1" and all(score > 0 for _, score in chinese)
    assert [doc for doc, _ in ask(built, "数据库备份保留多久", 2)][0] == "2"
    assert [doc for doc, _ in ask(built, "VPN certificates", 4)] == ["3"]  # only hits with a positive score


def test_queries_without_known_words_find_nothing() -> None:
    built = index()
    assert ask(built, "的 是 the", 3) == []  # stop words only
    assert ask(built, "zebra quantum", 3) == []  # words no document has
    assert ask(Bm25Index.build([], []), "年假", 3) == []


def test_k_larger_than_the_index_is_fine() -> None:
    assert [doc for doc, _ in ask(index(), "gate logbook", 50)] == ["4"]


def test_a_search_restricted_to_some_ids_ranks_only_those() -> None:
    built = index()
    assert [doc for doc, _ in ask(built, "数据库备份 VPN", 4, allowed=["3", "4"])] == ["3"]
    assert ask(built, "数据库备份", 4, allowed=["1", "3"]) == []
    assert ask(built, "年假", 4, allowed=["no-such-id"]) == []


def test_save_and_load_give_the_same_ranking(tmp_path: Path) -> None:
    built = Bm25Index.build(list(TEXTS), [tokenize(t) for t in TEXTS.values()], generation="g1")
    directory = tmp_path / "bm25"
    built.save(directory)
    loaded = Bm25Index.load(directory)
    assert loaded is not None and loaded.ids == list(TEXTS) and loaded.generation == "g1"
    for query in ("年假有几天", "数据库备份", "VPN certificates"):
        assert ask(loaded, query, 4) == ask(built, query, 4)


def test_a_second_save_of_one_generation_keeps_the_first_and_leaves_no_temporary_folders(
    tmp_path: Path,
) -> None:
    """Two processes may build the index of the same store state at once: the first save wins."""
    directory = tmp_path / "bm25-g1"
    index().save(directory)
    Bm25Index.build(["9"], [tokenize("a lighthouse keeper's ledger")]).save(directory)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bm25-g1"]
    loaded = Bm25Index.load(directory)
    assert loaded is not None and loaded.ids == list(TEXTS)


def test_an_empty_index_round_trips_and_a_missing_one_is_none(tmp_path: Path) -> None:
    Bm25Index.build([], []).save(tmp_path / "empty")
    assert (tmp_path / "empty" / IDS_FILE).is_file()
    empty = Bm25Index.load(tmp_path / "empty")
    assert empty is not None and empty.ids == [] and ask(empty, "anything", 3) == []
    assert Bm25Index.load(tmp_path / "never-built") is None


def test_a_store_keeps_one_keyword_index_per_generation_and_reloads_it_after_a_restart(
    tmp_path: Path,
) -> None:
    """What the old per-path cache did, now owned by the store: built once per state, saved beside
    the vectors under that state's generation, read back by a new process, replaced after a write."""
    vectors = np.eye(8, dtype=np.float32)
    chunks = [
        ChunkIn(key, text, {"source": "f.txt"}, vectors[i], tokenize(text))
        for i, (key, text) in enumerate(TEXTS.items())
    ]
    folder = tmp_path / "vs"

    def saved_indexes() -> list[str]:
        return sorted(p.name for p in folder.iterdir() if p.name.startswith("bm25-"))

    async def story() -> None:
        store = FaissStore(folder, "c1")
        await store.write(None, upsert=chunks)
        assert saved_indexes() == []  # nothing is built until a keyword search needs it
        first = await store.keyword_search(tokenize("年假"), 4)
        assert first[0][0] == "1" and len(saved_indexes()) == 1

        restarted = FaissStore(folder, "c1")  # another process: it reads the saved index
        assert await restarted.keyword_search(tokenize("年假"), 4) == first
        assert len(saved_indexes()) == 1

        await restarted.write(
            None,
            upsert=[ChunkIn("5", "年假申请表", {"source": "g.txt"}, vectors[4], tokenize("年假申请表"))],
            delete=["1"],
        )
        after = await restarted.keyword_search(tokenize("年假"), 4)
        assert [doc for doc, _ in after] == ["5"]  # the deleted chunk is gone from the keyword ranking
        assert len(saved_indexes()) == 1  # the superseded generation's index was removed
        assert [doc for doc, _ in await store.keyword_search(tokenize("年假"), 4)] == [
            "5"
        ]  # seen by the first too
        await restarted.close()
        await store.close()

    asyncio.run(story())
