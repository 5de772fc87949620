"""Prompt templates from the settings, rendered with a sandboxed Jinja2 environment."""

from __future__ import annotations

import re
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

    def for_question(self, chat_type: str, name: str, question: str) -> str:
        """The template to use for ``question``: ``name``'s variant in the question's language.

        A template ``NAME.LANG`` (``default.en``) is ``NAME`` for questions in that language, so
        the Chinese default instructions are not given to an English question (the small models
        then answer in Chinese, or echo the tags). Without such a variant it is ``name`` itself.
        """
        variant = f"{name}.{question_language(question)}"
        return variant if variant in self._templates.get(chat_type, {}) else name


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


_LATIN_WORD = re.compile(r"[A-Za-z]+")


def question_language(text: str) -> str:
    """``zh`` when the text has at least two Chinese characters per English word, else ``en``.

    A Chinese word is about two characters, so this weighs words against words: a Chinese
    question with English product names stays Chinese, an English one quoting a Chinese term
    stays English.
    """
    cjk = sum(1 for char in text if _is_cjk(char))
    words = len(_LATIN_WORD.findall(text))
    return "zh" if cjk and cjk >= 2 * words else "en"
