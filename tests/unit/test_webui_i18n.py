"""The UI in Chinese and English: the browser's language, the fallback, and a catalogue that is complete.

The source check reads every page as a user would see it: a label, caption or message written as a
bare string would stay English in the Chinese UI, so each must go through ``t()``, and each text
given to ``t()`` must have its Chinese entry with the same placeholders.
"""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from webui.i18n import pick, translate
from webui.locales import zh

WEBUI = Path(__file__).resolve().parents[2] / "webui"
# Streamlit calls whose first argument (or label=/body=) is shown to the user.
SHOWN = {
    "title", "header", "subheader", "caption", "markdown", "write", "text", "info", "warning", "error",
    "success", "toast", "button", "download_button", "form_submit_button", "popover", "expander",
    "selectbox", "multiselect", "radio", "checkbox", "toggle", "text_input", "text_area", "number_input",
    "slider", "file_uploader", "chat_input", "spinner", "status", "progress", "dialog", "page_link",
}  # fmt: skip
NOT_WORDS = {"Chatchat", "Language / 语言"}  # the product's name; the switch reads in both languages


def _sources() -> list[Path]:
    return sorted(p for p in WEBUI.rglob("*.py") if "locales" not in p.parts)


def _messages() -> dict[str, str]:
    """Every text given to ``t()`` or ``N_()`` in the web UI, with the file it is in."""
    found: dict[str, str] = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("t", "N_")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.setdefault(node.args[0].value, path.name)
    return found


def _has_words(node: ast.expr) -> bool:
    """A literal with words in it (an f-string's literal parts count; ``f"{name}: {reason}"`` has none)."""
    if isinstance(node, ast.JoinedStr):
        literal = "".join(
            p.value for p in node.values if isinstance(p, ast.Constant) and isinstance(p.value, str)
        )
        return any(char.isalpha() for char in literal)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return any(char.isalpha() for char in node.value) and node.value not in NOT_WORDS
    return False


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("zh-CN", "zh"),
        ("zh-TW,zh;q=0.9", "zh"),
        ("zh_CN", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR,zh-CN;q=0.7,en;q=0.5", "zh"),  # the best supported one wins, not the first listed
        ("de-DE", "en"),  # nothing supported: the default
        ("zh;q=0,en;q=0.1", "en"),  # q=0 means "not this one"
        ("", "en"),
        (None, "en"),
        ("zh;q=abc", "en"),
    ],
)
def test_the_browser_language_picks_the_ui_language(header: str | None, language: str) -> None:
    assert pick(header) == language


def test_a_missing_translation_falls_back_to_the_english_text_with_its_placeholders_filled() -> None:
    assert translate("Deleted {name}.", "zh", name="a") == "已删除 a。"
    assert translate("A text no catalogue has: {n}", "zh", n=3) == "A text no catalogue has: 3"
    assert translate("Deleted {name}.", "fr", name="a") == "Deleted a."  # an unknown language
    assert translate("{mode} · model {model}", "en") == "{mode} · model {model}"  # nothing to fill


def test_a_catalogue_entry_with_a_wrong_placeholder_shows_the_english_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(zh.MESSAGES, "Deleted {name}.", "已删除 {nmae}。")
    assert translate("Deleted {name}.", "zh", name="a") == "Deleted a."


def test_every_ui_text_has_its_chinese_entry_with_the_same_placeholders() -> None:
    messages = _messages()
    assert len(messages) > 250  # the check reads the pages at all
    missing = sorted(f"{where}: {text!r}" for text, where in messages.items() if text not in zh.MESSAGES)
    assert not missing, "texts without a Chinese entry in webui/locales/zh.py:\n" + "\n".join(missing)
    wrong = [text for text in messages if _placeholders(text) != _placeholders(zh.MESSAGES[text])]
    assert not wrong, f"placeholders differ: {wrong}"
    stale = sorted(set(zh.MESSAGES) - set(messages))
    assert not stale, f"entries no page uses any more: {stale}"


def test_no_label_or_message_is_written_as_a_bare_string() -> None:
    bare: list[str] = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in SHOWN:
                continue
            shown = [*node.args[:1], *(k.value for k in node.keywords if k.arg in ("label", "body", "help"))]
            for arg in shown:
                if _has_words(arg):
                    bare.append(
                        f"{path.relative_to(WEBUI)}:{node.lineno} {node.func.attr}({ast.unparse(arg)[:60]})"
                    )
    assert not bare, "wrap these in t():\n" + "\n".join(bare)
