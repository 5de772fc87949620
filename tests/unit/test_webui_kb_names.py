"""A knowledge-base name is checked in the browser before it is sent."""

from __future__ import annotations

import pytest

from webui.kb_names import kb_name_problem


@pytest.mark.parametrize("name", ["samples", "产品手册", "team-notes_2", "a" * 50])
def test_good_names_pass(name: str) -> None:
    assert kb_name_problem(name, existing=["other"]) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "Enter a name"),
        ("   ", "Enter a name"),
        (" lead", "spaces"),
        ("../etc", "letters, digits"),
        ("a/b", "letters, digits"),
        (".hidden", "letters, digits"),
        ("with space", "letters, digits"),
        ("_under", "letters, digits"),
        ("a" * 51, "longer than 50"),
    ],
)
def test_bad_names_say_what_is_wrong(name: str, why: str) -> None:
    assert why in (kb_name_problem(name, existing=[]) or "")


def test_an_existing_name_is_refused() -> None:
    assert "exists already" in (kb_name_problem("samples", existing=["samples"]) or "")
