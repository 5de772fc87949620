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


@pytest.mark.parametrize("name", ["wiki/Home.MD", "wiki/开发环境部署.MD", "a/b/c/d.txt"])
def test_sub_folder_names_are_kept_as_relative_paths(name: str, tmp_path: Path) -> None:
    from server.knowledge_base.paths import relative_files, safe_relative_name

    assert safe_relative_name(name) == name
    paths = KbPaths(tmp_path / "data")
    target = paths.file_path("kb", name)
    assert target.is_relative_to(paths.content_dir("kb").resolve())
    target.parent.mkdir(parents=True)
    target.write_text("x")
    (paths.content_dir("kb") / ".staging").mkdir()
    (paths.content_dir("kb") / ".staging" / "hidden.txt").write_text("x")
    assert relative_files(paths.content_dir("kb")) == [name]


@pytest.mark.parametrize(
    "name",
    [
        "wiki/../../a.txt",
        "../wiki/a.txt",
        "/wiki/a.txt",
        "wiki//a.txt",
        "wiki/",
        "C:wiki/a.txt",
        "wiki\\a.txt",
        "wiki/.env",
        "wiki/a\x00.txt",
        "/".join(["d"] * 9) + "/a.txt",
    ],
)
def test_sub_folder_names_cannot_leave_the_content_folder(name: str) -> None:
    from server.knowledge_base.paths import safe_relative_name

    with pytest.raises(InvalidName):
        safe_relative_name(name)
