"""Dependencies the routers declare; everything comes from ``app.state``, nothing from globals."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from configs import Settings
from server.agent.tools.knowledge_base import KnowledgeSearcher
from server.api.services.agent_service import AgentService
from server.api.services.chat_service import ChatService
from server.api.services.conversation_service import ConversationService
from server.api.services.exchange_recorder import ExchangeRecorder
from server.api.services.ingest_jobs import IngestJobs
from server.api.services.llm_client import LLMClient
from server.api.services.mcp_service import McpService
from server.api.services.model_service import ModelService
from server.api.services.prompts import PromptTemplates
from server.api.services.search_chat_service import SearchChatService
from server.auth.errors import Forbidden, Unauthorized
from server.auth.kb_access import KnowledgeBaseAccessPolicy, ScopedKnowledgeSearcher, TempUploadOwners
from server.auth.principal import Principal
from server.auth.users import UserService
from server.knowledge_base.service import KnowledgeBaseService
from server.knowledge_base.temp_kb import TempKnowledgeBases
from server.search import SearchEngines


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_chat_service(request: Request) -> ChatService:
    return request.app.state.chat_service


def get_conversation_service(request: Request) -> ConversationService:
    return request.app.state.conversations


def get_recorder(request: Request) -> ExchangeRecorder:
    return request.app.state.recorder


def get_model_service(request: Request) -> ModelService:
    return request.app.state.models


def get_prompts(request: Request) -> PromptTemplates:
    return request.app.state.prompts


def get_llm(request: Request) -> LLMClient:
    return request.app.state.llm


SettingsDep = Annotated[Settings, Depends(get_settings)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
ConversationServiceDep = Annotated[ConversationService, Depends(get_conversation_service)]
ExchangeRecorderDep = Annotated[ExchangeRecorder, Depends(get_recorder)]
ModelServiceDep = Annotated[ModelService, Depends(get_model_service)]
PromptsDep = Annotated[PromptTemplates, Depends(get_prompts)]
LLMClientDep = Annotated[LLMClient, Depends(get_llm)]


def get_search_engines(request: Request) -> SearchEngines:
    return request.app.state.search_engines


def get_search_chat_service(request: Request) -> SearchChatService:
    return request.app.state.search_chat_service


SearchEnginesDep = Annotated[SearchEngines, Depends(get_search_engines)]
SearchChatServiceDep = Annotated[SearchChatService, Depends(get_search_chat_service)]


def get_agent_service(request: Request) -> AgentService:
    return request.app.state.agent_service


def get_knowledge_searcher(request: Request) -> KnowledgeSearcher | None:
    """The knowledge-base service, when the app has one that can search (it is optional for the agent)."""
    searcher = getattr(request.app.state, "knowledge_searcher", None)
    return searcher if isinstance(searcher, KnowledgeSearcher) else None


AgentServiceDep = Annotated[AgentService, Depends(get_agent_service)]


def get_kb_service(request: Request) -> KnowledgeBaseService:
    return request.app.state.kb_service


def get_temp_kbs(request: Request) -> TempKnowledgeBases:
    return request.app.state.temp_kbs


def get_ingest_jobs(request: Request) -> IngestJobs:
    return request.app.state.ingest_jobs


KnowledgeBaseServiceDep = Annotated[KnowledgeBaseService, Depends(get_kb_service)]
TempKnowledgeBasesDep = Annotated[TempKnowledgeBases, Depends(get_temp_kbs)]
IngestJobsDep = Annotated[IngestJobs, Depends(get_ingest_jobs)]


def get_mcp_service(request: Request) -> McpService:
    return request.app.state.mcp_service


McpServiceDep = Annotated[McpService, Depends(get_mcp_service)]


# ---- who is calling ---------------------------------------------------------------------------
#
# ``authenticate`` is a dependency of the whole app (``create_app``), so every route added to it,
# now or later, needs a valid token or key unless its path is in ``public_paths``; routes declare
# ``CurrentUser`` to know who is calling and ``AdminUser`` when only admins may call them.

bearer_scheme = OAuth2PasswordBearer(
    tokenUrl="/auth/token",
    auto_error=False,
    description="A login token from POST /auth/token, or an API key (sk-...) as the bearer.",
)
# Open without a token: liveness, logging in, signing up, and what the login page must know.
PUBLIC_PATHS = frozenset({"/health", "/auth/token", "/auth/signup", "/auth/status"})
# What an account waiting for approval may still do.
PENDING_PATHS = frozenset({"/auth/me", "/auth/logout"})
METRICS_PATH = "/metrics"


def public_paths(settings: Settings) -> frozenset[str]:
    return PUBLIC_PATHS | ({METRICS_PATH} if settings.auth.metrics_public else frozenset())


def get_users(request: Request) -> UserService:
    return request.app.state.users


def get_kb_access(request: Request) -> KnowledgeBaseAccessPolicy:
    return request.app.state.kb_access


def get_temp_owners(request: Request) -> TempUploadOwners:
    return request.app.state.temp_owners


UsersDep = Annotated[UserService, Depends(get_users)]
KbAccessDep = Annotated[KnowledgeBaseAccessPolicy, Depends(get_kb_access)]
TempOwnersDep = Annotated[TempUploadOwners, Depends(get_temp_owners)]


async def authenticate(
    request: Request, bearer: Annotated[str | None, Depends(bearer_scheme)]
) -> Principal | None:
    """The caller of this request; 401 without a valid token or key, 403 for a pending account."""
    settings: Settings = request.app.state.settings
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    if not settings.auth.enabled:
        return Principal.local()
    principal = await request.app.state.users.principal_for(bearer) if bearer else None
    public = path in public_paths(settings)
    if principal is None:
        if public:
            return None
        raise Unauthorized("not signed in: send a login token or an API key as 'Authorization: Bearer ...'")
    if principal.is_pending and not public and path not in PENDING_PATHS:
        raise Forbidden("your account is waiting for an admin's approval")
    return principal


async def current_user(principal: Annotated[Principal | None, Depends(authenticate)]) -> Principal:
    if principal is None:
        raise Unauthorized("not signed in: send a login token or an API key as 'Authorization: Bearer ...'")
    return principal


async def admin_user(principal: Annotated[Principal, Depends(current_user)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("only an admin may do this")
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]
AdminUser = Annotated[Principal, Depends(admin_user)]
# For routes that need no caller value: ``dependencies=[AdminOnly]``.
AdminOnly = Depends(admin_user)


async def scoped_knowledge_searcher(request: Request, principal: CurrentUser) -> KnowledgeSearcher | None:
    """The agent's knowledge-base tool, searching only what the caller may read."""
    searcher = get_knowledge_searcher(request)
    if searcher is None:
        return None
    return ScopedKnowledgeSearcher(searcher, await get_kb_access(request).readable(principal))


KnowledgeSearcherDep = Annotated[KnowledgeSearcher | None, Depends(scoped_knowledge_searcher)]
