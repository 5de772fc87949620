"""Knowledge-base chat and file chat: retrieve chunks, put them in the prompt, stream, then cite.

When no chunk passes the threshold the ``empty`` template is used and the sources say that the
answer is the model's own, so no context is ever invented.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from configs import Settings
from server.api.schemas.kb_chat import FileChatRequest, KnowledgeBaseChatRequest, Source
from server.api.services.llm_client import LLMClient
from server.api.services.prompts import PromptTemplates
from server.knowledge_base.retrieval import SearchHit
from server.knowledge_base.service import KnowledgeBaseService
from server.knowledge_base.temp_kb import TempKnowledgeBases

CHAT_TYPE = "knowledge_base_chat"
EMPTY_PROMPT = "empty"
NOTHING_FOUND = "<span style='color:red'>未找到相关文档,该回答为大模型自身能力解答！</span>"


class RetrievalAnswer:
    """What a retrieval chat produced before the model is called."""

    def __init__(self, hits: list[SearchHit], sources: list[Source], prompt_name: str) -> None:
        self.hits = hits
        self.sources = sources
        self.prompt_name = prompt_name

    @property
    def docs(self) -> list[str]:
        """Chatchat's markdown strings: ``出处 [n] [file](url)`` then the chunk."""
        if not self.sources:
            return [NOTHING_FOUND]
        return [f"出处 [{s.index}] [{s.file_name}]({s.url}) \n\n{s.text}\n\n" for s in self.sources]

    def final_event(self) -> dict[str, Any]:
        return {"docs": self.docs, "sources": [s.model_dump() for s in self.sources]}


def _sources(hits: list[SearchHit], link) -> list[Source]:  # noqa: ANN001 - link(file_name) -> url
    return [
        Source(
            index=i,
            file_name=str(h.metadata.get("source", "")),
            url=link(str(h.metadata.get("source", ""))),
            text=h.text,
            score=round(h.score, 6),
            id=h.id,
            start=h.metadata.get("start"),
            end=h.metadata.get("end"),
        )
        for i, h in enumerate(hits, start=1)
    ]


class KnowledgeBaseChatService:
    def __init__(
        self,
        settings: Settings,
        llm: LLMClient,
        prompts: PromptTemplates,
        kbs: KnowledgeBaseService,
        temp_kbs: TempKnowledgeBases,
    ) -> None:
        self._settings = settings
        self._llm = llm
        self._prompts = prompts
        self._kbs = kbs
        self._temp = temp_kbs

    def _limits(self, request: KnowledgeBaseChatRequest | FileChatRequest) -> tuple[int, float]:
        kb = self._settings.kb
        threshold = kb.score_threshold if request.score_threshold is None else request.score_threshold
        return request.top_k or kb.top_k, threshold

    async def retrieve_kb(self, request: KnowledgeBaseChatRequest, base_url: str) -> RetrievalAnswer:
        self._prompts.get(CHAT_TYPE, request.prompt_name)  # an unknown template is a 404 before any work
        top_k, threshold = self._limits(request)
        hits = await self._kbs.search(
            request.knowledge_base_name,
            request.query,
            top_k=top_k,
            score_threshold=threshold,
            hybrid=request.hybrid,
        )

        def link(file_name: str) -> str:
            query = urlencode({"knowledge_base_name": request.knowledge_base_name, "file_name": file_name})
            return f"{base_url}knowledge_base/download_doc?{query}"

        return RetrievalAnswer(hits, _sources(hits, link), request.prompt_name if hits else EMPTY_PROMPT)

    async def retrieve_file(self, request: FileChatRequest, base_url: str) -> RetrievalAnswer:
        self._prompts.get(CHAT_TYPE, request.prompt_name)
        top_k, threshold = self._limits(request)
        hits = await self._temp.search(
            request.knowledge_id, request.query, top_k=top_k, score_threshold=threshold
        )

        def link(file_name: str) -> str:
            query = urlencode({"knowledge_id": request.knowledge_id, "file_name": file_name})
            return f"{base_url}knowledge_base/download_temp_doc?{query}"

        return RetrievalAnswer(hits, _sources(hits, link), request.prompt_name if hits else EMPTY_PROMPT)

    def messages(
        self, request: KnowledgeBaseChatRequest | FileChatRequest, found: RetrievalAnswer
    ) -> list[dict]:
        context = "\n".join(h.text for h in found.hits)
        prompt = self._prompts.render(CHAT_TYPE, found.prompt_name, context=context, question=request.query)
        history = [{"role": m.role, "content": m.content} for m in request.history]
        return [*history, {"role": "user", "content": prompt}]

    def _model(self, request: KnowledgeBaseChatRequest | FileChatRequest) -> str:
        return request.model_name or self._settings.default_llm

    async def stream(
        self, request: KnowledgeBaseChatRequest | FileChatRequest, found: RetrievalAnswer
    ) -> AsyncIterator[str]:
        return await self._llm.chat_stream(
            self._model(request),
            self.messages(request, found),
            request.temperature,
            request.max_tokens or self._settings.max_tokens,
        )

    async def answer(
        self, request: KnowledgeBaseChatRequest | FileChatRequest, found: RetrievalAnswer
    ) -> str:
        return await self._llm.chat(
            self._model(request),
            self.messages(request, found),
            request.temperature,
            request.max_tokens or self._settings.max_tokens,
        )
