"""Search-engine chat: search the web, put the results into the prompt, stream the answer, then the sources.

Every exchange is stored with its sources (``docs``) as ``search_engine_chat``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from configs import Settings
from server.api.schemas.search_chat import SearchEngineChatRequest
from server.api.services.conversation_service import ANY, Owner
from server.api.services.exchange_recorder import Exchange, ExchangeRecorder
from server.api.services.llm_client import LLMClient
from server.api.services.prompts import PromptTemplates
from server.search import SearchEngines, SearchResult
from server.search.pages import expand_results

CHAT_TYPE = "search_engine_chat"
NO_RESULTS_NOTICE = "<span style='color:red'>未找到相关文档,该回答为大模型自身能力解答！</span>"


def format_sources(results: list[SearchResult]) -> list[str]:
    """Chatchat's source markdown, numbered in result order."""
    return [f"出处 [{n}] [{r.title}]({r.link})\n\n{r.snippet}" for n, r in enumerate(results, start=1)]


def build_context(results: list[SearchResult]) -> str:
    return "\n\n".join(f"[{n}] {r.title}\n{r.snippet}" for n, r in enumerate(results, start=1))


class SearchAnswer:
    """A search whose answer is ready to stream: the sources are known, the model stream is open."""

    def __init__(self, message_id: str, deltas: AsyncIterator[str], docs: list[str]) -> None:
        self.message_id = message_id
        self.deltas = deltas
        self.docs = docs


class SearchChatService:
    def __init__(
        self,
        settings: Settings,
        llm: LLMClient,
        prompts: PromptTemplates,
        engines: SearchEngines,
        recorder: ExchangeRecorder,
    ) -> None:
        self._settings = settings
        self._llm = llm
        self._prompts = prompts
        self._engines = engines
        self._recorder = recorder

    async def search(
        self, query: str, engine_name: str | None, top_k: int, split_result: bool = False
    ) -> list[SearchResult]:
        engine = self._engines.get(engine_name)
        results = await engine.search(query, top_k)
        if split_result and results:
            results = await expand_results(self._engines.http, self._engines.settings, query, results)
        return results

    async def _prepare(self, request: SearchEngineChatRequest) -> tuple[list[dict[str, str]], list[str]]:
        """Everything that can fail with a clear status runs here, before any event is sent."""
        self._engines.get(request.search_engine_name)
        self._prompts.get(CHAT_TYPE, request.prompt_name)
        results = await self.search(
            request.query, request.search_engine_name, request.top_k, request.split_result
        )
        prompt = self._prompts.render(
            CHAT_TYPE, request.prompt_name, context=build_context(results), question=request.query
        )
        history = [{"role": m.role, "content": m.content} for m in request.history]
        docs = format_sources(results) if results else [NO_RESULTS_NOTICE]
        return [*history, {"role": "user", "content": prompt}], docs

    def _model(self, request: SearchEngineChatRequest) -> str:
        return request.model_name or self._settings.default_llm

    def _max_tokens(self, request: SearchEngineChatRequest) -> int | None:
        return request.max_tokens or self._settings.max_tokens

    def _begin(
        self, request: SearchEngineChatRequest, docs: list[str], started: float, owner: Owner
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
                "docs": docs,
            },
            owner=owner,
        )

    async def stream(self, request: SearchEngineChatRequest, owner: Owner = ANY) -> SearchAnswer:
        started = time.perf_counter()
        messages, docs = await self._prepare(request)
        exchange = self._begin(request, docs, started, owner)
        answer = await exchange.stream_from(
            self._llm.chat_stream(
                self._model(request), messages, request.temperature, self._max_tokens(request)
            )
        )
        return SearchAnswer(answer.message_id, answer.text, docs)

    async def answer(
        self, request: SearchEngineChatRequest, owner: Owner = ANY
    ) -> tuple[str, str, list[str]]:
        """(message id, whole answer, sources)."""
        started = time.perf_counter()
        messages, docs = await self._prepare(request)
        exchange = self._begin(request, docs, started, owner)
        text = await exchange.answer_from(
            self._llm.chat(self._model(request), messages, request.temperature, self._max_tokens(request))
        )
        return exchange.message_id, text, docs
