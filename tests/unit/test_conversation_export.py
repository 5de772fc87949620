"""An exported conversation lists, under each answer, the sources it cited or the tools the agent used."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.api.services.citations import NOTHING_FOUND
from server.api.services.conversation_service import ConversationService
from server.api.services.markdown_export import answer_notes, source_items, tool_items
from server.db.engine import create_engine, session_factory
from server.db.migrate import upgrade

KB_SOURCES = [
    {"index": 1, "file_name": "operations.md", "url": "http://h/doc?file_name=operations.md", "text": "x"},
    {"index": 2, "file_name": "员工手册.md", "url": "http://h/doc?file_name=%E5%91%98", "text": "y"},
]
SEARCH_SOURCES = [
    {
        "index": 1,
        "title": "Solar (energy)",
        "url": "https://en.wikipedia.org/wiki/Solar_(energy)",
        "text": "a",
    },
    {"index": 2, "title": "Tides [review]", "url": "https://example.org/tides", "text": "b"},
]
STEPS = [
    {"index": 1, "tool": "calculator", "input": "17 * 23", "output": "391", "ok": True},
    {
        "index": 2,
        "tool": None,
        "input": "",
        "output": "Invalid format:\n no action " + "x" * 200,
        "ok": False,
    },
]


def test_knowledge_base_sources_are_listed_by_file_name_and_link() -> None:
    assert source_items({"docs": ["ignored"], "sources": KB_SOURCES}) == [
        "- [1] [operations.md](http://h/doc?file_name=operations.md)",
        "- [2] [员工手册.md](http://h/doc?file_name=%E5%91%98)",
    ]


def test_search_sources_are_listed_by_title_and_link_from_the_stored_data() -> None:
    docs = ["出处 [1] [something else](http://elsewhere) \n\nx\n\n"]  # never read when sources exist
    assert source_items({"docs": docs, "sources": SEARCH_SOURCES}) == [
        "- [1] [Solar (energy)](https://en.wikipedia.org/wiki/Solar_(energy))",
        "- [2] [Tides \\[review\\]](https://example.org/tides)",
    ]


def test_an_answer_that_found_nothing_lists_no_source() -> None:
    assert source_items({"docs": [NOTHING_FOUND], "sources": []}) == []


def test_answers_stored_with_only_docs_strings_list_their_headings_as_stored() -> None:
    legacy = ["出处 [1] [Solar (energy)](https://example.org/solar)\n\nSnippet one", NOTHING_FOUND, ""]
    assert source_items({"docs": legacy}) == ["- 出处 [1] [Solar (energy)](https://example.org/solar)"]


def test_agent_steps_are_listed_on_one_short_line_each() -> None:
    first, second = tool_items({"tools": STEPS})
    assert first == "1. calculator: 17 * 23 → 391"
    assert second.startswith("2. (invalid call) (failed) → Invalid format: no action xxx")
    assert len(second) < 160 and second.endswith("…")


def test_a_plain_chat_answer_gets_no_notes() -> None:
    assert answer_notes({"temperature": 0.7, "prompt_name": "default"}) == []
    assert answer_notes(None) == []


def test_the_export_of_a_conversation_of_several_modes(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, str]:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'info.db'}")
        await upgrade(engine)
        service = ConversationService(session_factory(engine))
        # A client-made id: the first message creates the conversation, named after the question.
        await service.add_message(
            "m1",
            "How long are backups kept?",
            conversation_id="mixed-1",
            chat_type="knowledge_base_chat",
            model_name="smollm2",
            meta={"docs": ["..."], "sources": KB_SOURCES},
        )
        await service.finish_message("m1", "Ninety days.")
        await service.add_message(
            "m2", "What is 17 * 23?", conversation_id="mixed-1", chat_type="agent_chat", model_name="smollm2"
        )
        await service.finish_message("m2", "391", {"tools": STEPS[:1], "final_answer": "391"})
        [conversation] = await service.list()
        assert (conversation.id, conversation.chat_type) == ("mixed-1", "knowledge_base_chat")
        exported = await service.export_markdown("mixed-1")
        await engine.dispose()
        return exported

    name, markdown = asyncio.run(scenario())
    assert name == "How long are backups kept?"
    assert (
        "Ninety days.\n\nSources:\n\n- [1] [operations.md](http://h/doc?file_name=operations.md)\n"
        "- [2] [员工手册.md](http://h/doc?file_name=%E5%91%98)\n\n---" in markdown
    )
    assert "391\n\nTools used:\n\n1. calculator: 17 * 23 → 391\n\n---" in markdown
