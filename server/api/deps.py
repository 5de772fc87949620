"""Dependencies the routers declare; everything comes from ``app.state``, nothing from globals."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from configs import Settings
from server.api.services.chat_service import ChatService


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_chat_service(request: Request) -> ChatService:
    return request.app.state.chat_service


SettingsDep = Annotated[Settings, Depends(get_settings)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]


def get_kb_service(request: Request):  # noqa: ANN201 - imported lazily to keep this module light
    return request.app.state.kb_service


def get_temp_kbs(request: Request):  # noqa: ANN201
    return request.app.state.temp_kbs
