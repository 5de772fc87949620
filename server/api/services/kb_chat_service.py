"""Knowledge-base chat and file chat: retrieve chunks, put them in the prompt, stream, then cite.

When no chunk passes the threshold the ``empty`` template is used and the sources say that the
answer is the model's own, so no context is ever invented. Every exchange is stored with its
sources, as ``knowledge_base_chat`` or ``file_chat``.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from configs import Settings
from server.api.schemas.common import StageScores, kb_name_list
from server.api.schemas.kb_chat import FileChatRequest, KnowledgeBaseChatRequest, Source
from server.api.services.citations import chatchat_doc, chatchat_docs
from server.api.services.conversation_service import ANY, Owner
from server.api.services.exchange_recorder import Exchange, ExchangeRecorder, StreamedAnswer
from server.api.services.llm_client import LLMClient
from server.api.services.model_chat import ModelChat
from server.api.services.prompts import PromptTemplates
from server.api.services.query_rewriter import QueryRewriter, RewrittenQuery
from server.knowledge_base.retrieval import SearchHit
from server.knowledge_base.service import KnowledgeBaseService
from server.knowledge_base.temp_kb import TempKnowledgeBases

CHAT_TYPE = "knowledge_base_chat"
FILE_CHAT_TYPE = "file_chat"
EMPTY_PROMPT = "empty"


class RetrievalAnswer:
    """What a retrieval chat produced before the model is called.

    ``chat_type`` is the mode the exchange is stored as; ``started`` (``time.perf_counter()``) is
    when retrieval began, so the time to first token includes it; ``owner`` is whom it is stored for.
    """

    def __init__(
        self,
        hits: list[SearchHit],
        sources: list[Source],
        prompt_name: str,
        chat_type: str,
        started: float,
        owner: Owner = ANY,
        rewritten: RewrittenQuery | None = None,
    ) -> None:
        self.owner = owner
        self.rewritten = rewritten
        self.hits = hits
        self.sources = sources
        self.prompt_name = prompt_name
        self.chat_type = chat_type
        self.started = started

    @property
    def docs(self) -> list[str]:
        """Chatchat's markdown strings: ``出处 [n] [file](url)`` then the chunk."""
        return chatchat_docs([chatchat_doc(s.index, s.file_name, s.url, s.text) for s in self.sources])

    def final_event(self) -> dict[str, Any]:
        """``docs`` and ``sources``, and ``rewritten_query`` when retrieval used a rewrite."""
        rewritten = self.rewritten.event() if self.rewritten is not None else {}
        return {"docs": self.docs, "sources": [s.model_dump() for s in self.sources], **rewritten}


def _sources(hits: list[SearchHit], link) -> list[Source]:  # noqa: ANN001 - link(kb, file_name) -> url
    return [
        Source(
            index=i,
            file_name=str(h.metadata.get("source", "")),
            url=link(h.kb, str(h.metadata.get("source", ""))),
            text=h.text,
            score=round(h.score, 6),
            relevance=round(h.relevance, 6),
            scores=StageScores(**h.scores),
            knowledge_base_name=h.kb,
            id=h.id,
            start=h.metadata.get("start"),
            end=h.metadata.get("end"),
        )
        for i, h in enumerate(hits, start=1)
    ]


class KnowledgeBaseChatService(ModelChat):
    def __init__(
        self,
        settings: Settings,
        llm: LLMClient,
        prompts: PromptTemplates,
        kbs: KnowledgeBaseService,
        temp_kbs: TempKnowledgeBases,
        recorder: ExchangeRecorder,
        rewriter: QueryRewriter | None = None,
    ) -> None:
        super().__init__(settings, llm, prompts, recorder)
        self._kbs = kbs
        self._temp = temp_kbs
        self._rewriter = rewriter or QueryRewriter(settings, llm, prompts)

    async def _rewrite(self, request: KnowledgeBaseChatRequest | FileChatRequest) -> RewrittenQuery:
        return await self._rewriter.rewrite(
            request.query, request.history, self._model(request), request.rewrite_query
        )

    def _limits(self, request: KnowledgeBaseChatRequest | FileChatRequest) -> tuple[int, float]:
        kb = self._settings.kb
        threshold = kb.score_threshold if request.score_threshold is None else request.score_threshold
        return request.top_k or kb.top_k, threshold

    async def retrieve_kb(
        self, request: KnowledgeBaseChatRequest, base_url: str, owner: Owner = ANY
    ) -> RetrievalAnswer:
        started = time.perf_counter()
        self._prompts.get(CHAT_TYPE, request.prompt_name)  # an unknown template is a 404 before any work
        top_k, threshold = self._limits(request)
        rewritten = await self._rewrite(request)
        hits = await self._kbs.search_many(
            kb_name_list(request.knowledge_base_name),
            rewritten.query,
            top_k=top_k,
            score_threshold=threshold,
            hybrid=request.hybrid,
            min_relevance=request.min_relevance,
            rerank=request.rerank,
            rerank_top_n=request.rerank_top_n,
            reranker=request.reranker,
        )

        def link(kb: str | None, file_name: str) -> str:
            query = urlencode({"knowledge_base_name": kb or "", "file_name": file_name})
            return f"{base_url}knowledge_base/download_doc?{query}"

        prompt_name = request.prompt_name if hits else EMPTY_PROMPT
        return RetrievalAnswer(hits, _sources(hits, link), prompt_name, CHAT_TYPE, started, owner, rewritten)

    async def retrieve_file(
        self, request: FileChatRequest, base_url: str, owner: Owner = ANY
    ) -> RetrievalAnswer:
        started = time.perf_counter()
        self._prompts.get(CHAT_TYPE, request.prompt_name)
        top_k, threshold = self._limits(request)
        rewritten = await self._rewrite(request)
        hits = await self._temp.search(
            request.knowledge_id,
            rewritten.query,
            top_k=top_k,
            score_threshold=threshold,
            min_relevance=self._settings.kb.min_relevance
            if request.min_relevance is None
            else request.min_relevance,
        )

        def link(kb: str | None, file_name: str) -> str:
            query = urlencode({"knowledge_id": request.knowledge_id, "file_name": file_name})
            return f"{base_url}knowledge_base/download_temp_doc?{query}"

        prompt_name = request.prompt_name if hits else EMPTY_PROMPT
        return RetrievalAnswer(
            hits, _sources(hits, link), prompt_name, FILE_CHAT_TYPE, started, owner, rewritten
        )

    def messages(
        self, request: KnowledgeBaseChatRequest | FileChatRequest, found: RetrievalAnswer
    ) -> list[dict]:
        context = "\n".join(h.text for h in found.hits)
        name = self._prompts.for_question(CHAT_TYPE, found.prompt_name, request.query)
        prompt = self._prompts.render(CHAT_TYPE, name, context=context, question=request.query)
        return [*self._sent_history(request), {"role": "user", "content": prompt}]

    def _begin(
        self, request: KnowledgeBaseChatRequest | FileChatRequest, found: RetrievalAnswer, model: str | None
    ) -> Exchange:
        return self._recorder.begin(
            request.query,
            chat_type=found.chat_type,
            model=model,
            conversation_id=request.conversation_id,
            started=found.started,
            meta={
                "temperature": request.temperature,
                "prompt_name": request.prompt_name,
                **found.final_event(),  # docs and structured sources
            },
            owner=found.owner,
        )

    async def stream(
        self, request: KnowledgeBaseChatRequest | FileChatRequest, found: RetrievalAnswer
    ) -> StreamedAnswer:
        """Open the model's stream now (errors become HTTP statuses); the answer is stored as it ends."""
        call = self._model_call(request, found)  # the prompt is rendered before anything is stored
        exchange = self._begin(request, found, call[0])
        return await exchange.stream_from(self._llm.chat_stream(*call))

    async def answer(
        self, request: KnowledgeBaseChatRequest | FileChatRequest, found: RetrievalAnswer
    ) -> tuple[str, str]:
        """(message id, whole answer)."""
        call = self._model_call(request, found)
        exchange = self._begin(request, found, call[0])
        return exchange.message_id, await exchange.answer_from(self._llm.chat(*call))

    def _model_call(
        self, request: KnowledgeBaseChatRequest | FileChatRequest, found: RetrievalAnswer
    ) -> tuple[str, list[dict], float, int | None]:
        """(model, messages, temperature, max_tokens) of the model call, streamed or not."""
        return (
            self._model(request),
            self.messages(request, found),
            request.temperature,
            self._max_tokens(request),
        )

    async def direct(
        self, request: KnowledgeBaseChatRequest | FileChatRequest, found: RetrievalAnswer
    ) -> str:
        """``return_direct``: no model answers; the exchange is stored with its sources. Returns its id."""
        exchange = self._begin(request, found, None)
        await exchange.finish("")
        return exchange.message_id
