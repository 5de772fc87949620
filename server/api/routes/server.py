from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import PromptsDep, SettingsDep
from server.api.schemas.common import BaseResponse
from server.api.schemas.server import PromptTemplateQuery
from server.version import __version__

router = APIRouter(prefix="/server", tags=["server"])


@router.post("/configs", response_model=BaseResponse)
async def configs(settings: SettingsDep) -> BaseResponse:
    """The configuration a client may see: models, defaults, templates; never keys or paths of secrets."""
    data = settings.model_dump(mode="json", exclude={"llm_models": {"__all__": {"api_key"}}})
    data["version"] = __version__
    return BaseResponse(data=data)


@router.post("/get_prompt_template", response_model=BaseResponse, responses={404: {"model": BaseResponse}})
async def get_prompt_template(prompts: PromptsDep, query: PromptTemplateQuery | None = None) -> BaseResponse:
    """The text of a prompt template; an unknown name is a 404 listing the names there are."""
    query = query or PromptTemplateQuery()
    return BaseResponse(data=prompts.get(query.type, query.name))
