"""The knowledge-base prompt follows the question's language: the Chinese default is not given to
an English question (the small model then answered in Chinese or echoed ``</问题>``)."""

from __future__ import annotations

import pytest

from configs.settings import DEFAULT_PROMPT_TEMPLATES
from server.api.services.prompts import PromptTemplates, question_language


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("How long are backups kept?", "en"),
        ("数据库备份保留多久？", "zh"),
        ("Chatchat 的 FAISS 索引放在哪里？", "zh"),  # Chinese with English product names
        ("What does 知识库 mean?", "en"),  # English quoting one Chinese term
        ("？？", "en"),
        ("1234", "en"),
        ("", "en"),
    ],
)
def test_the_language_of_a_question(question: str, language: str) -> None:
    assert question_language(question) == language


def test_the_default_template_has_an_english_variant_chosen_for_english_questions() -> None:
    prompts = PromptTemplates(DEFAULT_PROMPT_TEMPLATES)
    kb = "knowledge_base_chat"
    assert prompts.for_question(kb, "default", "How long are backups kept?") == "default.en"
    assert prompts.for_question(kb, "default", "备份保留多久？") == "default"
    assert prompts.for_question(kb, "empty", "Hi there") == "empty.en"
    assert prompts.for_question(kb, "text", "Hi there") == "text"  # no variant: the one asked for
    rendered = prompts.render(kb, "default.en", context="Backups: 30 days.", question="How long?")
    assert "Backups: 30 days." in rendered and "How long?" in rendered
    assert not any("\u4e00" <= char <= "\u9fff" for char in rendered)
