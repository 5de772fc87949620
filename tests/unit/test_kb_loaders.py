"""Every supported file type is read with its Chinese and English text; bad files fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.knowledge_base.errors import LoaderError
from server.knowledge_base.loaders import load_file
from tests.support import kb_fixtures as fx

needs_font = pytest.mark.skipif(not fx.CJK_FONT.exists(), reason="fonts-wqy-zenhei is not installed")


@pytest.mark.parametrize("writer", fx.TEXT_WRITERS, ids=lambda w: w.__name__)
def test_text_formats_yield_both_languages(writer, tmp_path: Path) -> None:
    path = writer(tmp_path)
    loaded = load_file(path)
    kind = fx.kind_of(path)
    assert f"{fx.ZH}（{kind}）" in loaded.text
    assert f"{fx.EN} ({kind})" in loaded.text


def test_html_drops_scripts(tmp_path: Path) -> None:
    assert "script text" not in load_file(fx.write_html(tmp_path)).text


@needs_font
def test_pdf_with_embedded_cjk_font(tmp_path: Path) -> None:
    text = load_file(fx.write_pdf(tmp_path)).text
    assert fx.ZH in text and fx.EN in text


@needs_font
def test_ocr_reads_a_generated_image(tmp_path: Path) -> None:
    loaded = load_file(fx.write_png(tmp_path))
    assert loaded.loader == "ImageOCRLoader"
    assert fx.OCR_ZH in loaded.text
    assert "4711" in loaded.text and "overdue" in loaded.text


@needs_font
def test_scanned_pdf_pages_go_through_ocr(tmp_path: Path) -> None:
    text = load_file(fx.write_scanned_pdf(tmp_path)).text
    assert "会议在周五举行" in text and "Friday" in text


def test_unsupported_and_broken_files_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "a.exe").write_bytes(b"MZ")
    with pytest.raises(LoaderError, match="unsupported file type '.exe'"):
        load_file(tmp_path / "a.exe")
    (tmp_path / "broken.docx").write_bytes(b"not a zip")
    with pytest.raises(LoaderError, match="could not read broken.docx"):
        load_file(tmp_path / "broken.docx")
    (tmp_path / "empty.txt").write_text("   \n")
    with pytest.raises(LoaderError, match="no text found"):
        load_file(tmp_path / "empty.txt")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(LoaderError, match="bad.json"):
        load_file(tmp_path / "bad.json")
