"""Prompt templates from the settings, rendered with a sandboxed Jinja2 environment."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Template
from jinja2.sandbox import ImmutableSandboxedEnvironment

from server.api.errors import NotFound

_env = ImmutableSandboxedEnvironment(keep_trailing_newline=True)


@lru_cache(maxsize=256)
def _compile(source: str) -> Template:
    return _env.from_string(source)


class PromptTemplates:
    def __init__(self, templates: dict[str, dict[str, str]]) -> None:
        self._templates = templates

    def get(self, chat_type: str, name: str) -> str:
        by_name = self._templates.get(chat_type, {})
        if name not in by_name:
            raise NotFound(
                f"prompt template {name!r} does not exist for {chat_type}; "
                f"available: {', '.join(by_name) or 'none'}"
            )
        return by_name[name]

    def render(self, chat_type: str, name: str, **variables: Any) -> str:
        return _compile(self.get(chat_type, name)).render(**variables)
