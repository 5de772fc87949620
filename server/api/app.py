"""The backend FastAPI application: Chatchat's REST paths over our services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from configs import Settings
from server.agent.mcp.registry import McpRegistry
from server.agent.mcp.store import McpStore
from server.api.body_checks import JsonBodyCheckMiddleware
from server.api.deps import authenticate
from server.api.errors import DomainError, domain_error_response
from server.api.metrics import instrument
from server.api.offline_docs import add_offline_docs
from server.api.routes import (
    agent_chat,
    auth,
    chat,
    conversations,
    health,
    ingest_jobs,
    kb_access,
    kb_chat,
    knowledge_base,
    llm_model,
    mcp,
    other,
    rerank,
    search_chat,
    search_engines,
    server,
    users,
)
from server.api.schemas.common import BaseResponse
from server.api.services.agent_service import AgentService
from server.api.services.chat_service import ChatService
from server.api.services.conversation_service import ConversationService
from server.api.services.exchange_recorder import ExchangeRecorder
from server.api.services.ingest_jobs import IngestJobs
from server.api.services.kb_chat_service import KnowledgeBaseChatService
from server.api.services.llm_client import LLMClient
from server.api.services.mcp_service import McpService
from server.api.services.model_service import ModelLauncher, ModelService
from server.api.services.prompts import PromptTemplates
from server.api.services.search_chat_service import SearchChatService
from server.auth.kb_access import KnowledgeBaseAccessPolicy, TempUploadOwners
from server.auth.principal import USER, Principal
from server.auth.secret_files import with_secrets
from server.auth.throttle import LoginThrottle
from server.auth.users import UserService
from server.core.browser_guards import add_browser_guards
from server.core.request_id import RequestIdMiddleware
from server.db.engine import create_engine, session_factory
from server.db.migrate import upgrade
from server.knowledge_base.consistency import check_at_start
from server.knowledge_base.rerank import Ask
from server.knowledge_base.setup import build_services, create_samples_safely
from server.search import SearchEngines
from server.version import __version__


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with a message that names each bad field, in Chatchat's envelope (details kept)."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    message = "; ".join(f"{_field(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors)
    body = BaseResponse(code=422, msg=message or "invalid request").model_dump()
    body["detail"] = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in errors]
    return JSONResponse(body, status_code=422)


def _llm_asker(settings: Settings, llm: LLMClient) -> Ask:
    """The chat model as the ``llm`` reranker's judge (its configured model, else the default)."""

    async def ask(model: str | None, prompt: str) -> str:
        return await llm.chat(model or settings.default_llm, [{"role": "user", "content": prompt}], 0.0, 8)

    return ask


def create_app(settings: Settings, launcher: ModelLauncher | None = None) -> FastAPI:
    """The backend; ``launcher`` is the channel to startup.py, absent when run on its own."""
    settings = with_secrets(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.sqlalchemy_url)
        await upgrade(engine)
        llm = LLMClient(settings)
        app.state.settings = settings
        app.state.db = session_factory(engine)
        app.state.llm = llm
        app.state.prompts = PromptTemplates(settings.prompt_templates)
        app.state.conversations = ConversationService(app.state.db)
        recorder = ExchangeRecorder(app.state.conversations, llm, metrics)
        app.state.recorder = recorder
        app.state.chat_service = ChatService(
            settings, llm, app.state.prompts, app.state.conversations, recorder
        )
        app.state.models = ModelService(settings, llm, launcher)
        app.state.users = UserService(app.state.db, settings, cache_ttl=2.0)
        app.state.kb_access = KnowledgeBaseAccessPolicy(app.state.db)
        app.state.temp_owners = TempUploadOwners(app.state.db)
        app.state.login_throttle = LoginThrottle(settings.auth)
        if settings.auth.enabled:
            await app.state.users.bootstrap_admin()
            await app.state.users.claim_unowned()
        app.state.kb_service, app.state.temp_kbs = build_services(settings, app.state.db)
        app.state.kb_chat_service = KnowledgeBaseChatService(
            settings, llm, app.state.prompts, app.state.kb_service, app.state.temp_kbs, recorder
        )
        app.state.kb_service.rerankers.connect_llm(_llm_asker(settings, llm))
        temp_owners: TempUploadOwners = app.state.temp_owners

        async def record_temp_owner(upload_id: str, owner_id: int | None) -> None:
            await temp_owners.record(upload_id, Principal(id=owner_id, email="", role=USER))

        app.state.ingest_jobs = IngestJobs(
            settings, app.state.db, app.state.kb_service, app.state.temp_kbs, record_temp_owner
        )
        await app.state.ingest_jobs.start()
        await create_samples_safely(app.state.kb_service, settings)
        if settings.kb.samples_kb:
            await app.state.kb_access.make_public(settings.kb.samples_kb)
        # the cheap consistency check, in the background: what it finds goes to the log
        kb_check = asyncio.get_running_loop().create_task(check_at_start(app.state.kb_service))
        engines = SearchEngines(settings.search)
        app.state.search_engines = engines
        app.state.search_chat_service = SearchChatService(settings, llm, app.state.prompts, engines, recorder)
        mcp_store = McpStore(app.state.db)
        mcp_registry = McpRegistry(
            settings.mcp_servers, settings.log_dir, settings.agent.observation_max_chars
        )
        await mcp_registry.start(await mcp_store.all())  # connects in the background
        app.state.mcp_service = McpService(mcp_store, mcp_registry)
        app.state.agent_service = AgentService(settings, llm, app.state.prompts, engines, mcp_registry)
        app.state.knowledge_searcher = app.state.kb_service  # the agent's knowledge_base_search tool
        try:
            yield
        finally:
            await mcp_registry.stop()  # stdio servers' processes end with the backend
            await app.state.ingest_jobs.close()  # running jobs go back to the queue
            kb_check.cancel()
            await asyncio.gather(kb_check, return_exceptions=True)  # before the database goes away
            await app.state.kb_service.close()
            await engines.aclose()
            await llm.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Chatchat API",
        version=__version__,
        description=(
            "Chat with local LLMs, knowledge bases, web search and tools (Langchain-Chatchat 0.2 compatible)."
        ),
        lifespan=lifespan,
        docs_url=None,  # served from local files below: the CDN is not there offline
        redoc_url=None,
        # Every route, also one added later, checks the caller (see server.api.deps.authenticate).
        dependencies=[Depends(authenticate)],
    )
    add_offline_docs(app)
    metrics = instrument(app)
    app.add_middleware(JsonBodyCheckMiddleware, limits=settings.limits)
    app.add_middleware(RequestIdMiddleware)
    add_browser_guards(
        app,
        allowed_hosts=settings.trusted_hosts(settings.api),
        own_origins=settings.own_origins(),
        cors_origins=settings.api.cors_origins,
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DomainError, domain_error_response)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(chat.router)
    app.include_router(conversations.router)
    app.include_router(llm_model.router)
    app.include_router(server.router)
    app.include_router(other.router)
    app.include_router(search_chat.router)
    app.include_router(search_engines.router)
    app.include_router(agent_chat.router)
    app.include_router(mcp.router)
    app.include_router(kb_chat.router)
    app.include_router(ingest_jobs.router)
    app.include_router(knowledge_base.router)
    app.include_router(rerank.router)
    app.include_router(kb_access.router)
    return app
