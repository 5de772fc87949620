"""Search-engine chat: search the web, put the results into the prompt, stream the answer, then the sources.

Every exchange is stored as ``search_engine_chat`` with its sources, structured (``sources``) and
as Chatchat's strings (``docs``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from configs import Settings
from server.api.schemas.search_chat import SearchEngineChatRequest, WebSource
from server.api.services.citations import chatchat_doc, chatchat_docs
from server.api.services.conversation_service import ANY, Owner
from server.api.services.exchange_recorder import Exchange, ExchangeRecorder
from server.api.services.llm_client import LLMClient
from server.api.services.model_chat import ModelChat
from server.api.services.prompts import PromptTemplates
from server.api.services.query_rewriter import QueryRewriter, RewrittenQuery
from server.search import SearchEngines, SearchResult
from server.search.pages import expand_results

CHAT_TYPE = "search_engine_chat"


def cite(results: list[SearchResult]) -> list[WebSource]:
    """The results as the answer's sources, numbered in result order."""
    return [
        WebSource(index=n, title=r.title, url=r.link, text=r.snippet) for n, r in enumerate(results, start=1)
    ]


def chatchat_sources(sources: list[WebSource]) -> list[str]:
    """Chatchat's ``docs`` strings for the sources (the notice when there are none)."""
    return chatchat_docs([chatchat_doc(s.index, s.title, s.url, s.text) for s in sources])


def build_context(results: list[SearchResult]) -> str:
    return "\n\n".join(f"[{n}] {r.title}\n{r.snippet}" for n, r in enumerate(results, start=1))


class SearchAnswer:
    """A search whose answer is ready to stream: the sources are known, the model stream is open."""

    def __init__(
        self,
        message_id: str,
        deltas: AsyncIterator[str],
        sources: list[WebSource],
        rewritten: RewrittenQuery | None = None,
    ) -> None:
        self.message_id = message_id
        self.deltas = deltas
        self.sources = sources
        self.docs = chatchat_sources(sources)
        self.rewritten_query = rewritten.query if rewritten is not None and rewritten.rewritten else None


class SearchChatService(ModelChat):
    def __init__(
        self,
        settings: Settings,
        llm: LLMClient,
        prompts: PromptTemplates,
        engines: SearchEngines,
        recorder: ExchangeRecorder,
        rewriter: QueryRewriter | None = None,
    ) -> None:
        super().__init__(settings, llm, prompts, recorder)
        self._engines = engines
        self._rewriter = rewriter or QueryRewriter(settings, llm, prompts)

    async def search(
        self, query: str, engine_name: str | None, top_k: int, split_result: bool = False
    ) -> list[SearchResult]:
        engine = self._engines.get(engine_name)
        results = await engine.search(query, top_k)
        if split_result and results:
            results = await expand_results(self._engines.http, self._engines.settings, query, results)
        return results

    async def _prepare(
        self, request: SearchEngineChatRequest
    ) -> tuple[list[dict[str, str]], list[WebSource], RewrittenQuery]:
        """Everything that can fail with a clear status runs here, before any event is sent."""
        self._engines.get(request.search_engine_name)
        self._prompts.get(CHAT_TYPE, request.prompt_name)
        rewritten = await self._rewriter.rewrite(
            request.query, request.history, self._model(request), request.rewrite_query
        )
        results = await self.search(
            rewritten.query, request.search_engine_name, request.top_k, request.split_result
        )
        prompt = self._prompts.render(
            CHAT_TYPE, request.prompt_name, context=build_context(results), question=request.query
        )
        messages = [*self._sent_history(request), {"role": "user", "content": prompt}]
        return messages, cite(results), rewritten

    def _begin(
        self,
        request: SearchEngineChatRequest,
        sources: list[WebSource],
        started: float,
        owner: Owner,
        rewritten: RewrittenQuery,
    ) -> Exchange:
        return self._recorder.begin(
            request.query,
            chat_type=CHAT_TYPE,
            model=self._model(request),
            conversation_id=request.conversation_id,
            started=started,
            meta={
                "temperature": request.temperature,
                "prompt_name": request.prompt_name,
                "search_engine_name": request.search_engine_name,
                "docs": chatchat_sources(sources),
                "sources": [s.model_dump() for s in sources],
                **rewritten.event(),
            },
            owner=owner,
        )

    async def stream(self, request: SearchEngineChatRequest, owner: Owner = ANY) -> SearchAnswer:
        started = time.perf_counter()
        messages, sources, rewritten = await self._prepare(request)
        exchange = self._begin(request, sources, started, owner, rewritten)
        answer = await exchange.stream_from(
            self._llm.chat_stream(
                self._model(request), messages, request.temperature, self._max_tokens(request)
            )
        )
        return SearchAnswer(answer.message_id, answer.text, sources, rewritten)

    async def answer(
        self, request: SearchEngineChatRequest, owner: Owner = ANY
    ) -> tuple[str, str, list[WebSource], str | None]:
        """(message id, whole answer, sources, the rewritten query or None)."""
        started = time.perf_counter()
        messages, sources, rewritten = await self._prepare(request)
        exchange = self._begin(request, sources, started, owner, rewritten)
        text = await exchange.answer_from(
            self._llm.chat(self._model(request), messages, request.temperature, self._max_tokens(request))
        )
        return exchange.message_id, text, sources, rewritten.query if rewritten.rewritten else None
