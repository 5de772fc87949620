from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import AdminOnly, KnowledgeBaseServiceDep, PromptsDep, SettingsDep
from server.api.schemas.common import BaseResponse
from server.api.schemas.server import PromptTemplateQuery, ServerConfigs
from server.api.services.chatchat_configs import chatchat_configs
from server.version import __version__

router = APIRouter(prefix="/server", tags=["server"])


@router.post("/configs", response_model=ServerConfigs, dependencies=[AdminOnly])
async def configs(settings: SettingsDep, kbs: KnowledgeBaseServiceDep) -> ServerConfigs:
    """The configuration (admins only): Chatchat's flat keys, and ours in `data` with every key,
    password and URL credential masked."""
    data = settings.public_dump()
    for model in data["llm_models"].values():
        model.pop("api_key", None)  # not even masked: clients of Chatchat never saw the field
    data["version"] = __version__
    return ServerConfigs(data=data, **chatchat_configs(settings, kbs.check_vs_type(None)))


@router.post(
    "/get_prompt_template",
    response_model=str,
    responses={
        200: {"description": "The template text, as a JSON string (Chatchat answers it bare)."},
        404: {"model": BaseResponse},
    },
)
async def get_prompt_template(prompts: PromptsDep, query: PromptTemplateQuery | None = None) -> str:
    """The text of a prompt template, bare as Chatchat answers it; an unknown name is a 404 listing
    the names there are."""
    query = query or PromptTemplateQuery()
    return prompts.get(query.type, query.name)
