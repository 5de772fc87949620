"""Dependencies the routers declare; everything comes from ``app.state``, nothing from globals."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from configs import Settings
from server.api.services.chat_service import ChatService
from server.api.services.search_chat_service import SearchChatService
from server.search import SearchEngines


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_chat_service(request: Request) -> ChatService:
    return request.app.state.chat_service


SettingsDep = Annotated[Settings, Depends(get_settings)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]


def get_search_engines(request: Request) -> SearchEngines:
    return request.app.state.search_engines


def get_search_chat_service(request: Request) -> SearchChatService:
    return request.app.state.search_chat_service


SearchEnginesDep = Annotated[SearchEngines, Depends(get_search_engines)]
SearchChatServiceDep = Annotated[SearchChatService, Depends(get_search_chat_service)]
