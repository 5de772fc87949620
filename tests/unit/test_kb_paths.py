"""Names from users never lead outside their knowledge base's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.knowledge_base.errors import InvalidName
from server.knowledge_base.paths import KbPaths, check_kb_name, safe_file_name


@pytest.mark.parametrize("name", ["samples", "知识库", "kb_1-2", "A"])
def test_good_knowledge_base_names(name: str) -> None:
    assert check_kb_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "..", "../x", "a/b", "a\\b", "/etc", "a\x00b", "-x", "_x", "a b", "x" * 51, ".hidden", "a.b"]
)
def test_bad_knowledge_base_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        check_kb_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "../a.txt",
        "/etc/passwd",
        "..\\a.txt",
        "a\\b.txt",
        "a/b.txt",
        "a\x00.txt",
        "..",
        ".",
        ".env",
        "",
        "  ",
        "a\nb.txt",
        "x" * 201 + ".txt",
        "evil%00.txt",
        "..%2Fa.txt",
        "a%5cb",
    ],
)
def test_bad_file_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        safe_file_name(name)


def test_plain_file_names_pass_unchanged() -> None:
    assert safe_file_name("报告 2024 (final).pdf") == "报告 2024 (final).pdf"


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    paths = KbPaths(tmp_path / "data")
    content = paths.content_dir("kb")
    content.mkdir(parents=True)
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (content / "link.txt").symlink_to(outside)
    with pytest.raises(InvalidName, match="outside"):
        paths.file_path("kb", "link.txt")
    (paths.root / "evil").symlink_to(tmp_path)
    with pytest.raises(InvalidName):
        paths.content_dir("evil")


def test_temp_ids_must_be_hex(tmp_path: Path) -> None:
    paths = KbPaths(tmp_path)
    with pytest.raises(InvalidName):
        paths.temp_dir("../../etc")
    assert paths.temp_dir("a" * 32).name == "a" * 32
