"""Chunks follow Chinese and English sentence ends and know where they came from."""

from __future__ import annotations

from server.knowledge_base.splitter import MARKDOWN, RECURSIVE, is_possible_title, split_text

ZH = "公司员工每年有十五天带薪年假。年假需要提前两周申请！病假需要医生证明？请假流程在系统中完成；"


def test_chinese_text_is_cut_at_sentence_ends_with_exact_spans() -> None:
    text = ZH * 6 + "\n\nThe outage lasted two hours. Engineers replaced the disk! Was it the cause? Yes."
    chunks, name = split_text(text, markdown=False, chunk_size=40, chunk_overlap=10)
    assert name == RECURSIVE
    assert len(chunks) > 5
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert len(chunk.text) <= 40
    assert all(c.text[-1] in "。！？；.!?" for c in chunks[:-1] if not c.text.endswith("\n"))
    assert chunks[-1].text.endswith("Yes.")


def test_markdown_sections_carry_their_headers() -> None:
    text = (
        "# 手册\n\n总述。\n\n## 年假\n\n每年十五天。\n\n```\n# 不是标题\n```\n\n"
        "## Backups\n\nKept for ninety days.\n"
    )
    chunks, name = split_text(text, markdown=True, chunk_size=100, chunk_overlap=0)
    assert name == MARKDOWN
    by_body = {text[c.start : c.end].strip(): c for c in chunks}
    assert by_body["每年十五天。\n\n```\n# 不是标题\n```"].metadata == {"h1": "手册", "h2": "年假"}
    assert by_body["Kept for ninety days."].metadata == {"h1": "手册", "h2": "Backups"}
    assert by_body["Kept for ninety days."].text == "手册 / Backups\nKept for ninety days."


def test_title_enhancement_prefixes_the_following_chunks() -> None:
    text = "第一章 总则\n\n本制度适用于全体员工，自发布之日起施行。"
    chunks, _ = split_text(text, markdown=False, chunk_size=22, chunk_overlap=0, zh_title_enhance=True)
    assert chunks[0].metadata["category"] == "cn_Title"
    assert chunks[1].text.startswith("下文与(第一章 总则)有关。")
    assert text[chunks[1].start : chunks[1].end] == "本制度适用于全体员工，自发布之日起施行。"


def test_title_detection() -> None:
    assert is_possible_title("第一章 总则")
    assert not is_possible_title("这是一个完整的句子。")
    assert not is_possible_title("a" * 40)
