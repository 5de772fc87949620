from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import SearchEnginesDep
from server.api.schemas.common import BaseResponse

router = APIRouter(prefix="/server", tags=["server"])


@router.post("/list_search_engines", response_model=BaseResponse)
async def list_search_engines(engines: SearchEnginesDep) -> BaseResponse:
    """The configured search engines, by the names `search_engine_name` accepts (the default first)."""
    names = engines.names()
    default = engines.settings.default_engine
    if default in names:
        names = [default, *(n for n in names if n != default)]
    return BaseResponse(data=names)
