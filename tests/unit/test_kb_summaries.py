"""KB summaries: map-reduce over a file's chunks, one replaceable summary per file, searchable."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from configs import Settings
from server.api.services.kb_summary_service import KbSummaryService, SummaryCall, parts
from server.api.services.prompts import PromptTemplates
from server.knowledge_base.summaries import SummaryIndex
from tests.support.kb_service import KbHarness

CALL = SummaryCall("smollm2", 0.0, 64, "a team handbook")


class ScriptedModel:
    """Summarises by naming what it was asked about (model-free: the plumbing is under test)."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    async def chat(
        self, model: str, messages: list[dict[str, str]], temperature: float, max_tokens: int | None
    ) -> str:
        prompt = messages[0]["content"]
        self.prompts.append(prompt)
        if prompt.startswith("Combine"):
            return f"Combined summary of {prompt.count('part summary')} parts."
        return "part summary: " + (
            "orbits" if "moon" in prompt else "PostgreSQL" if "PostgreSQL" in prompt else "other"
        )


def test_parts_keep_order_and_size() -> None:
    assert parts(["a" * 10, "b" * 10], limit=25) == ["a" * 10 + "\n\n" + "b" * 10]
    assert parts(["a" * 10, "b" * 20], limit=25) == ["a" * 10, "b" * 20]
    assert parts(["x" * 60], limit=25) == ["x" * 25, "x" * 25, "x" * 10]
    assert parts([]) == []


def test_files_are_summarised_stored_replaced_searched_and_dropped_with_the_kb(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with KbHarness(tmp_path, kb={"samples_kb": None}) as kb:
            settings = Settings(kb={"samples_kb": None})
            model = ScriptedModel()
            service = KbSummaryService(
                settings, model, PromptTemplates(settings.prompt_templates), SummaryIndex(kb.service)
            )  # type: ignore[arg-type]
            await kb.service.create("handbook")
            await kb.add("handbook", "wiki/amber.md", "The Amber Falcon team stores its data in PostgreSQL.")
            long_text = "\n\n".join(
                f"The moon paragraph {i} says the moon orbits the earth. " * 6 for i in range(20)
            )
            await kb.add("handbook", "moon.md", long_text)

            short = await service.summarise_file("handbook", "wiki/amber.md", CALL)
            assert short["text"] == "part summary: PostgreSQL" and short["steps"] == []
            assert "The file: a team handbook." in model.prompts[0]
            long = await service.summarise_file("handbook", "moon.md", CALL)
            assert (
                len(long["steps"]) > 1 and long["text"] == f"Combined summary of {len(long['steps'])} parts."
            )
            assert len(long["doc_ids"]) > 1

            assert await service.index.count("handbook") == 2
            await service.summarise_file("handbook", "moon.md", CALL)  # again: replaced, not added
            assert await service.index.count("handbook") == 2
            hits = await service.index.search("handbook", "Which database holds the team's data?", 1)
            assert (
                hits[0].metadata["source"] == "wiki/amber.md"
                and hits[0].metadata["doc_ids"] == short["doc_ids"]
            )

            events = [
                e async for e in service.recreate("handbook", ["moon.md", "gone.md", "wiki/amber.md"], CALL)
            ]
            assert [(e["code"], e["doc"]) for e in events] == [
                (200, "moon.md"),
                (404, "gone.md"),
                (200, "wiki/amber.md"),
            ]
            assert events[-1]["finished"] == 3 and events[-1]["total"] == 3
            assert await service.index.count("handbook") == 2

            await kb.service.drop("handbook")
            await kb.service.create("handbook")  # same name, a new collection: no summary survives
            assert await service.index.count("handbook") == 0

    asyncio.run(scenario())


def test_chunk_ids_are_summarised_without_storing(tmp_path: Path) -> None:
    async def scenario() -> dict[str, Any]:
        async with KbHarness(tmp_path, kb={"samples_kb": None}) as kb:
            settings = Settings(kb={"samples_kb": None})
            service = KbSummaryService(
                settings,
                ScriptedModel(),
                PromptTemplates(settings.prompt_templates),
                SummaryIndex(kb.service),
            )  # type: ignore[arg-type]
            await kb.service.create("notes")
            await kb.add("notes", "db.md", "The Amber Falcon team stores its data in PostgreSQL.")
            ids = [c.id for c in await service.index.file_chunks("notes", "db.md")]
            summary = await service.summarise(await service.index.chunks("notes", ids), CALL)
            assert await service.index.count("notes") == 0
            return summary

    assert asyncio.run(scenario())["text"] == "part summary: PostgreSQL"
