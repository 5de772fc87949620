"""Checks on a knowledge-base name before it is sent, so the user learns what is wrong at once."""

from __future__ import annotations

import re

from webui.i18n import t

# The backend's rule: a letter, digit or CJK character, then up to 49 of those, '_' or '-'.
KB_NAME_RE = re.compile(r"^[A-Za-z0-9\u4e00-\u9fff][A-Za-z0-9_\-\u4e00-\u9fff]{0,49}$")


def kb_name_problem(name: str, existing: list[str]) -> str | None:
    """Why ``name`` cannot be a new knowledge base, or ``None`` when it can."""
    if not name.strip():
        return t("Enter a name.")
    if name != name.strip():
        return t("The name must not start or end with spaces.")
    if len(name) > 50:
        return t("The name is longer than 50 characters.")
    if not KB_NAME_RE.match(name):
        return t(
            "Use letters, digits, Chinese characters, '_' or '-' only, starting with a letter or digit "
            "(no spaces, dots or slashes)."
        )
    if name in existing:
        return t("A knowledge base named {name} exists already.", name=repr(name))
    return None
