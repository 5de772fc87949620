"""The BM25 index: jieba tokens without stop words, ranking, atomic saves, and the per-KB cache."""

from __future__ import annotations

from pathlib import Path

from server.knowledge_base.bm25_index import IDS_FILE, Bm25Index, Bm25Manager, tokenize

TEXTS = {
    "1": "员工每年享有十五天带薪年假，年假需提前两周申请。",
    "2": "数据库备份每天凌晨两点进行，备份保留三十天。",
    "3": "The VPN gateway rotates its certificates every ninety days.",
    "4": "Visitors sign the logbook at the north gate.",
}


def index() -> Bm25Index:
    return Bm25Index.build(list(TEXTS), list(TEXTS.values()))


def test_tokens_are_lower_case_words_without_stop_words_or_punctuation() -> None:
    tokens = tokenize("什么是数据库备份？The Annual Leave policy, 2024!")
    assert {"数据库", "备份", "annual", "leave", "policy", "2024"} <= set(tokens)  # search mode: 数据 too
    assert not {"什么", "是", "the", "？", ",", "!"} & set(tokens)
    assert tokenize("的 了 and the") == []


def test_the_document_with_the_query_words_ranks_first() -> None:
    built = index()
    chinese = built.search("年假有几天", 4)
    assert chinese[0][0] == "1" and all(score > 0 for _, score in chinese)
    assert [doc for doc, _ in built.search("数据库备份保留多久", 2)][0] == "2"
    assert [doc for doc, _ in built.search("VPN certificates", 4)] == ["3"]  # only hits with a positive score


def test_queries_without_known_words_find_nothing() -> None:
    built = index()
    assert built.search("的 是 the", 3) == []  # stop words only
    assert built.search("zebra quantum", 3) == []  # words no document has
    assert Bm25Index.build([], []).search("年假", 3) == []


def test_k_larger_than_the_index_is_fine() -> None:
    assert [doc for doc, _ in index().search("gate logbook", 50)] == ["4"]


def test_save_and_load_give_the_same_ranking(tmp_path: Path) -> None:
    built = index()
    directory = tmp_path / "bm25"
    built.save(directory)
    loaded = Bm25Index.load(directory)
    assert loaded is not None and loaded.ids == list(TEXTS)
    for query in ("年假有几天", "数据库备份", "VPN certificates"):
        assert loaded.search(query, 4) == built.search(query, 4)


def test_a_save_replaces_the_old_index_and_leaves_no_temporary_folders(tmp_path: Path) -> None:
    directory = tmp_path / "bm25"
    index().save(directory)
    Bm25Index.build(["9"], ["a lighthouse keeper's ledger"]).save(directory)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bm25"]
    loaded = Bm25Index.load(directory)
    assert loaded is not None and loaded.ids == ["9"]
    assert loaded.search("年假", 3) == [] and loaded.search("lighthouse", 3)[0][0] == "9"


def test_an_empty_index_round_trips_and_a_missing_one_is_none(tmp_path: Path) -> None:
    Bm25Index.build([], []).save(tmp_path / "empty")
    assert (tmp_path / "empty" / IDS_FILE).is_file()
    empty = Bm25Index.load(tmp_path / "empty")
    assert empty is not None and empty.ids == [] and empty.search("anything", 3) == []
    assert Bm25Index.load(tmp_path / "never-built") is None


def test_the_manager_serves_the_last_build_and_reloads_after_forgetting(tmp_path: Path) -> None:
    manager = Bm25Manager()
    directory = tmp_path / "kb" / "bm25"
    assert manager.get(directory) is None
    rebuilt = manager.rebuild(directory, list(TEXTS), list(TEXTS.values()))
    assert manager.get(directory) is rebuilt  # queries read the built index, never rebuild
    manager.forget(directory)
    reloaded = manager.get(directory)
    assert reloaded is not None and reloaded is not rebuilt
    assert reloaded.search("年假", 4) == rebuilt.search("年假", 4)
    manager.rebuild(directory, ["5"], ["数据库备份"])
    current = manager.get(directory)
    assert current is not None and current.ids == ["5"]
