"""The UI's language: Chinese or English, the browser's by default, switchable in the sidebar.

Every user-visible string goes through :func:`t` with its English text as the message id, as
gettext does: a string missing from a catalogue shows in English instead of breaking the page, and
the English source reads the same as the page. ``{name}`` placeholders are filled after
translation, so a catalogue may move them. The catalogues live in ``webui/locales``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from webui.locales import zh

DEFAULT = "en"
LANGUAGES: dict[str, str] = {"en": "English", "zh": "中文"}
CATALOGUES: dict[str, dict[str, str]] = {"en": {}, "zh": zh.MESSAGES}
LANGUAGE_KEY = "ui_language"


def pick(accept_language: str | None) -> str:
    """The first supported language of a ``navigator.language`` or an ``Accept-Language`` value.

    ``zh-CN,zh;q=0.9,en;q=0.8`` gives ``zh``; ``fr-FR,en;q=0.5`` gives ``en``; nothing usable gives
    the default. Entries are taken by their ``q`` weight (1 when absent), ties in the given order.
    """
    ranked: list[tuple[float, int, str]] = []
    for order, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        base = tag.strip().lower().replace("_", "-").split("-")[0]
        if base in LANGUAGES and weight > 0:
            ranked.append((-weight, order, base))
    return min(ranked)[2] if ranked else DEFAULT


def translate(text: str, language: str, /, **values: Any) -> str:
    """``text`` in ``language`` (English when the catalogue lacks it), placeholders filled."""
    translated = CATALOGUES.get(language, {}).get(text, text)
    if not values:
        return translated
    try:
        return translated.format(**values)
    except (KeyError, IndexError, ValueError):  # a catalogue entry with a wrong placeholder
        return text.format(**values)


def browser_language() -> str:
    """The language the browser asks for: ``navigator.language``, else the Accept-Language header."""
    try:
        locale = st.context.locale
        header = st.context.headers.get("Accept-Language")
    except Exception:  # no browser context (a bare script run)
        return DEFAULT
    if isinstance(locale, str) and locale:
        return pick(locale if not isinstance(header, str) else f"{locale},{header}")
    return pick(header if isinstance(header, str) else None)


def current() -> str:
    """This session's language: the sidebar's choice once made, else the browser's."""
    chosen = st.session_state.get(LANGUAGE_KEY)
    if chosen in LANGUAGES:
        return str(chosen)
    return browser_language()


def N_(text: str) -> str:  # noqa: N802 - gettext's name for "translated later"
    """Marks a constant for the catalogue; it is translated where it is shown, with :func:`t`."""
    return text


def t(text: str, /, **values: Any) -> str:
    """``text`` in this session's language."""
    return translate(text, current(), **values)


def switch() -> str:
    """The language picker (in the sidebar of every page); returns the language now in use."""
    if st.session_state.get(LANGUAGE_KEY) not in LANGUAGES:
        st.session_state[LANGUAGE_KEY] = browser_language()
    st.sidebar.selectbox(
        "Language / 语言",
        list(LANGUAGES),
        format_func=LANGUAGES.__getitem__,
        key=LANGUAGE_KEY,
    )
    return current()
