from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import AdminOnly, PromptsDep, SettingsDep
from server.api.schemas.common import BaseResponse
from server.api.schemas.server import PromptTemplateQuery
from server.version import __version__

router = APIRouter(prefix="/server", tags=["server"])


@router.post("/configs", response_model=BaseResponse, dependencies=[AdminOnly])
async def configs(settings: SettingsDep) -> BaseResponse:
    """The configuration (admins only), with every key, password and URL credential masked."""
    data = settings.public_dump()
    for model in data["llm_models"].values():
        model.pop("api_key", None)  # not even masked: clients of Chatchat never saw the field
    data["version"] = __version__
    return BaseResponse(data=data)


@router.post("/get_prompt_template", response_model=BaseResponse, responses={404: {"model": BaseResponse}})
async def get_prompt_template(prompts: PromptsDep, query: PromptTemplateQuery | None = None) -> BaseResponse:
    """The text of a prompt template; an unknown name is a 404 listing the names there are."""
    query = query or PromptTemplateQuery()
    return BaseResponse(data=prompts.get(query.type, query.name))
