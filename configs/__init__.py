"""Configuration: one typed settings object, read from ``configs/settings.yaml`` and the environment."""

from configs.settings import (
    BUNDLED,
    DEFAULT_SETTINGS_FILE,
    PROJECT_ROOT,
    SETTINGS_FILE_ENV,
    EmbedModelSettings,
    LLMModelSettings,
    ServerAddress,
    Settings,
    load_settings,
)

__all__ = [
    "BUNDLED",
    "DEFAULT_SETTINGS_FILE",
    "PROJECT_ROOT",
    "SETTINGS_FILE_ENV",
    "EmbedModelSettings",
    "LLMModelSettings",
    "ServerAddress",
    "Settings",
    "load_settings",
]
