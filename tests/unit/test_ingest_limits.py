"""Every loader runs under kb.limits: each limit refuses a file before the work it bounds, naming both."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from configs.settings import IngestLimitSettings
from server.knowledge_base.errors import LimitExceeded
from server.knowledge_base.ingest import SplitOptions, prepare_chunks
from server.knowledge_base.loaders import load_file
from tests.support import kb_fixtures as fx


def limits(**values: float) -> IngestLimitSettings:
    return IngestLimitSettings(**values)


def test_an_office_file_that_unzips_too_large_is_refused_before_parsing(tmp_path: Path) -> None:
    path = fx.write_docx(tmp_path)
    with pytest.raises(LimitExceeded, match=r"report\.docx.*unzips to .*kb\.limits\.max_unzipped_mb"):
        load_file(path, limits(max_unzipped_mb=0.001))
    assert load_file(path).text  # the same file under the default limits


@pytest.mark.parametrize("writer", [fx.write_pptx, fx.write_xlsx, fx.write_epub], ids=lambda w: w.__name__)
def test_every_zip_container_is_measured(writer, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(LimitExceeded, match="max_zip_ratio"):
        load_file(writer(tmp_path), limits(max_zip_ratio=1.01))


def test_characters_per_file(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text("word " * 1000)
    with pytest.raises(LimitExceeded, match=r"long\.txt: 5000 characters.*at most 4000.*max_chars"):
        load_file(path, limits(max_chars=4000))


def test_chunks_per_file(tmp_path: Path) -> None:
    path = tmp_path / "many.txt"
    path.write_text("\n\n".join(f"Paragraph number {i} says something." for i in range(200)))
    options = SplitOptions(50, 0, False, limits(max_chunks=20))
    with pytest.raises(LimitExceeded, match=r"many\.txt: splits into \d+ chunks; at most 20.*max_chunks"):
        prepare_chunks(path, "many.txt", options)


def test_pages_per_pdf(tmp_path: Path) -> None:
    writer = PdfWriter()
    for _ in range(12):
        writer.add_blank_page(width=100, height=100)
    path = tmp_path / "pages.pdf"
    writer.write(path)
    with pytest.raises(LimitExceeded, match=r"pages\.pdf: 12 pages; at most 10 per PDF.*max_pdf_pages"):
        load_file(path, limits(max_pdf_pages=10))


def test_ocr_off_refuses_images(tmp_path: Path) -> None:
    with pytest.raises(LimitExceeded, match="max_ocr_pages"):
        load_file(fx.write_png(tmp_path), limits(max_ocr_pages=0))


@pytest.mark.skipif(not fx.CJK_FONT.exists(), reason="fonts-wqy-zenhei is not installed")
def test_only_pages_without_a_text_layer_go_to_ocr_and_the_result_names_them(tmp_path: Path) -> None:
    writer = PdfWriter()
    for source in (fx.write_pdf(tmp_path), fx.write_scanned_pdf(tmp_path)):
        writer.append(PdfReader(source))
    path = tmp_path / "mixed.pdf"
    writer.write(path)
    loaded = load_file(path)
    assert loaded.ocr_pages == [2]
    assert fx.EN in loaded.text and "Friday" in loaded.text
    chunks, _, _ = prepare_chunks(path, "mixed.pdf", SplitOptions(250, 50, False))
    assert all(c.metadata["ocr_pages"] == [2] for c in chunks)
    with pytest.raises(LimitExceeded, match="1 pages have no text layer"):
        load_file(path, limits(max_ocr_pages=0))
