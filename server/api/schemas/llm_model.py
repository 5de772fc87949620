"""Wire models of model management (Chatchat's /llm_model endpoints)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ModelName(BaseModel):
    model_name: str = Field(..., min_length=1, max_length=200)


class ModelChange(BaseModel):
    model_name: str = Field("", max_length=200, description="The running model to replace ('' = none).")
    new_model_name: str = Field(
        ..., min_length=1, max_length=200, description="The configured model to start."
    )


class ConfigModelsQuery(BaseModel):
    types: list[str] = Field(default_factory=lambda: ["local", "online"])
