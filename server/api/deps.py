"""Dependencies the routers declare; everything comes from ``app.state``, nothing from globals."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from configs import Settings
from server.agent.tools.knowledge_base import KnowledgeSearcher
from server.api.services.agent_service import AgentService
from server.api.services.chat_service import ChatService
from server.api.services.conversation_service import ConversationService
from server.api.services.exchange_recorder import ExchangeRecorder
from server.api.services.llm_client import LLMClient
from server.api.services.mcp_service import McpService
from server.api.services.model_service import ModelService
from server.api.services.prompts import PromptTemplates
from server.api.services.search_chat_service import SearchChatService
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
KnowledgeSearcherDep = Annotated[KnowledgeSearcher | None, Depends(get_knowledge_searcher)]


def get_kb_service(request: Request) -> KnowledgeBaseService:
    return request.app.state.kb_service


def get_temp_kbs(request: Request) -> TempKnowledgeBases:
    return request.app.state.temp_kbs


KnowledgeBaseServiceDep = Annotated[KnowledgeBaseService, Depends(get_kb_service)]
TempKnowledgeBasesDep = Annotated[TempKnowledgeBases, Depends(get_temp_kbs)]


def get_mcp_service(request: Request) -> McpService:
    return request.app.state.mcp_service


McpServiceDep = Annotated[McpService, Depends(get_mcp_service)]
