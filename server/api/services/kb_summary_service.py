"""KB summaries written by the chat model: map-reduce over a file's chunks, stored per file.

A file's chunks are read in text order and packed into parts of at most ``MAP_CHARS``; each part
is summarised (``kb_summary/map``) and the part summaries combined (``kb_summary/reduce``); a
short file is one part and one call. The summary goes into the KB's summary index with the
ids of the chunks it covers (Chatchat's ``summary_chunk`` rows carry the same).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from configs import Settings
from server.api.errors import ApiError, NotFound, http_status
from server.api.services.llm_client import LLMClient
from server.api.services.prompts import PromptTemplates
from server.knowledge_base.stores.base import StoredChunk
from server.knowledge_base.summaries import SummaryIndex

MAP_CHARS = 3000  # characters of chunk text one map call reads
SUMMARY_TYPE = "kb_summary"


@dataclass(frozen=True)
class SummaryCall:
    """How the model is called: model, temperature, max_tokens, and the file's description."""

    model: str
    temperature: float
    max_tokens: int | None
    description: str = ""


def parts(texts: list[str], limit: int = MAP_CHARS) -> list[str]:
    """The texts packed in order into parts of at most ``limit`` characters (a longer text is cut)."""
    out: list[str] = []
    current = ""
    for text in texts:
        for start in range(0, max(len(text), 1), limit):
            piece = text[start : start + limit]
            if current and len(current) + len(piece) + 2 > limit:
                out.append(current)
                current = ""
            current = f"{current}\n\n{piece}" if current else piece
    if current.strip():
        out.append(current)
    return out


class KbSummaryService:
    def __init__(
        self, settings: Settings, llm: LLMClient, prompts: PromptTemplates, index: SummaryIndex
    ) -> None:
        self._settings = settings
        self._llm = llm
        self._prompts = prompts
        self.index = index

    async def _ask(self, template: str, text: str, call: SummaryCall) -> str:
        prompt = self._prompts.render(SUMMARY_TYPE, template, text=text, description=call.description)
        answer = await self._llm.chat(
            call.model, [{"role": "user", "content": prompt}], call.temperature, call.max_tokens
        )
        return answer.strip()

    async def summarise(self, chunks: list[StoredChunk], call: SummaryCall) -> dict[str, Any]:
        """Map-reduce over the chunks: ``{text, steps, doc_ids}`` (steps: the part summaries)."""
        pieces = parts([c.text for c in chunks])
        steps = [await self._ask("map", piece, call) for piece in pieces]
        text = steps[0] if len(steps) == 1 else await self._ask("reduce", "\n\n".join(steps), call)
        return {"text": text, "steps": steps if len(steps) > 1 else [], "doc_ids": [c.id for c in chunks]}

    async def summarise_file(self, kb_name: str, file_name: str, call: SummaryCall) -> dict[str, Any]:
        chunks = await self.index.file_chunks(kb_name, file_name)
        if not chunks:
            raise NotFound(f"file {file_name!r} of knowledge base {kb_name!r} has no indexed chunks")
        summary = await self.summarise(chunks, call)
        meta = {
            "file_description": call.description,
            "doc_ids": summary["doc_ids"],
            "steps": summary["steps"],
        }
        summary["id"] = await self.index.put(kb_name, file_name, summary["text"], meta)
        return summary

    async def recreate(
        self, kb_name: str, files: list[str], call: SummaryCall
    ) -> AsyncIterator[dict[str, Any]]:
        """Start the summary index afresh and summarise every file: one progress event per file."""
        await self.index.clear(kb_name)
        for number, file_name in enumerate(files, start=1):
            try:
                await self.summarise_file(kb_name, file_name, call)
            except ApiError as exc:
                yield {"code": http_status(exc), "msg": f"{file_name}: {exc.message}", "doc": file_name}
                continue
            yield {
                "code": 200,
                "msg": f"({number} / {len(files)}): {file_name}",
                "total": len(files),
                "finished": number,
                "doc": file_name,
            }
