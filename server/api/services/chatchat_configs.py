"""``/server/configs`` as Chatchat 0.2.10 answers it: the flat keys of its ``configs`` modules.

Chatchat's ``get_server_configs`` returns the names its web UI imports from ``configs``
(``kb_config``, ``model_config``, ``prompt_config``) plus three service addresses; a client written
for it reads those keys at the top level, so they are derived here from our one settings object.
"""

from __future__ import annotations

from typing import Any

from configs import Settings
from server.api.schemas.search_chat import SearchEngineChatRequest
from server.knowledge_base.splitter import RECURSIVE

HISTORY_LEN = 3  # Chatchat's default number of earlier turns a chat sends


def chatchat_configs(settings: Settings, default_vs_type: str) -> dict[str, Any]:
    """The flat keys (values from ``settings``); ``default_vs_type`` is the resolved ``auto``."""
    kb = settings.kb
    models = [settings.default_llm, *(name for name in settings.llm_models if name != settings.default_llm)]
    return {
        "DEFAULT_KNOWLEDGE_BASE": kb.samples_kb or "samples",
        "DEFAULT_SEARCH_ENGINE": settings.search.default_engine,
        "DEFAULT_VS_TYPE": default_vs_type,
        "CHUNK_SIZE": kb.chunk_size,
        "OVERLAP_SIZE": kb.chunk_overlap,
        "SCORE_THRESHOLD": kb.score_threshold,
        "VECTOR_SEARCH_TOP_K": kb.top_k,
        "SEARCH_ENGINE_TOP_K": SearchEngineChatRequest.model_fields["top_k"].default,
        "ZH_TITLE_ENHANCE": kb.zh_title_enhance,
        # chunks count characters: no tokenizer
        "text_splitter_dict": {RECURSIVE: {"source": "", "tokenizer_name_or_path": ""}},
        "TEXT_SPLITTER_NAME": RECURSIVE,
        "LLM_MODELS": models,
        "HISTORY_LEN": HISTORY_LEN,
        "TEMPERATURE": settings.temperature,
        "PROMPT_TEMPLATES": settings.prompt_templates,
        "controller_address": settings.controller.url,
        "openai_api_address": f"{settings.openai_api.url}/v1",
        "api_address": settings.api.url,
    }
