from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import AdminOnly, ModelServiceDep
from server.api.schemas.common import BaseResponse, OpenApiResponses
from server.api.schemas.llm_model import ConfigModelsQuery, ModelChange, ModelName

router = APIRouter(prefix="/llm_model", tags=["llm model"])
ERRORS: OpenApiResponses = {404: {"model": BaseResponse}, 503: {"model": BaseResponse}}


@router.post("/list_running_models", response_model=BaseResponse, responses=ERRORS)
async def list_running_models(models: ModelServiceDep) -> BaseResponse:
    """Models being served now, with their configuration."""
    return BaseResponse(data=await models.running())


@router.post("/list_config_models", response_model=BaseResponse)
async def list_config_models(models: ModelServiceDep, query: ConfigModelsQuery | None = None) -> BaseResponse:
    """Configured models, grouped as local and online (remote)."""
    return BaseResponse(data=models.configured((query or ConfigModelsQuery()).types))


@router.post("/get_model_config", response_model=BaseResponse, responses=ERRORS)
async def get_model_config(body: ModelName, models: ModelServiceDep) -> BaseResponse:
    return BaseResponse(data=models.config(body.model_name))


@router.post("/stop", response_model=BaseResponse, responses=ERRORS, dependencies=[AdminOnly])
async def stop_model(body: ModelName, models: ModelServiceDep) -> BaseResponse:
    """Stop a model's worker (answers in flight are finished first)."""
    return BaseResponse(msg=await models.stop(body.model_name))


@router.post("/change", response_model=BaseResponse, responses=ERRORS, dependencies=[AdminOnly])
async def change_model(body: ModelChange, models: ModelServiceDep) -> BaseResponse:
    """Start `new_model_name` and stop `model_name`; returns once the new model is serving."""
    return BaseResponse(msg=await models.change(body.model_name, body.new_model_name))
