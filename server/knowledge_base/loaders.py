"""Read a file into text, chosen by extension, with small permissive libraries; OCR for images.

Each loader returns the whole text of the file (pages, slides, sheets joined by blank lines), so
a chunk's character span is a span of that one text. Any failure becomes a :class:`LoaderError`
naming the file and what went wrong; the caller reports it and goes on with the batch.

:func:`load_file` is the one door every loader goes through, so the limits of
``kb.limits`` hold for all of them, including loaders added later: a zip container (Office,
EPUB) is measured before a parser opens it, and the text is measured after. Loaders that can
cause more work (pages, OCR) check their own limit through the :class:`LoadJob` they are given,
and call its watch at every page: that is where a cancelled job or a file over
``kb.limits.max_seconds_per_file`` stops (a single call into a parser cannot be interrupted; the
size limits above bound those).
"""

from __future__ import annotations

import csv
import io
import json
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from configs.settings import IngestLimitSettings
from server.knowledge_base.errors import LimitExceeded, LoaderError
from server.knowledge_base.watch import FileWatch, IngestCancelled, unwatched

# A PDF page with fewer characters than this is treated as scanned and sent through OCR.
SCANNED_PAGE_CHARS = 10
PDF_RENDER_SCALE = 2.0


ZIP_CONTAINERS = (".docx", ".pptx", ".xlsx", ".epub")


@dataclass
class LoadJob:
    """One file being read: the limits it runs under and what the loader did (pages OCR'd, 1-based)."""

    name: str
    limits: IngestLimitSettings
    ocr_pages: list[int] = field(default_factory=list)
    watch: FileWatch = field(default_factory=lambda: unwatched(""))

    def refuse(self, setting: str, why: str) -> LimitExceeded:
        return LimitExceeded(f"{self.name}: {why} (kb.limits.{setting})")


@dataclass
class LoadedText:
    text: str
    loader: str
    ocr_pages: list[int] = field(default_factory=list)


class _Ocr:
    """One RapidOCR engine per process, created on first use (its models ship in the wheel)."""

    _engine = None
    _lock = threading.Lock()

    @classmethod
    def read(cls, image) -> str:  # noqa: ANN001 - a path, bytes or numpy array
        with cls._lock:
            if cls._engine is None:
                from rapidocr_onnxruntime import RapidOCR

                cls._engine = RapidOCR()
            result, _ = cls._engine(image)
        return "\n".join(line[1] for line in result or [])


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise LoaderError("the file is not UTF-8 or GB18030 text")


def load_txt(path: Path, job: LoadJob) -> str:
    return _read_text(path)


def load_pdf(path: Path, job: LoadJob) -> str:
    """The text layer of each page; only pages without one go to OCR, and only so many per file."""
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    count = len(reader.pages)
    if count > job.limits.max_pdf_pages:
        raise job.refuse("max_pdf_pages", f"{count} pages; at most {job.limits.max_pdf_pages} per PDF")
    job.watch.report(phase="reading", pages_total=count, pages_done=0)
    pages = []
    for i, page in enumerate(reader.pages):
        pages.append(page.extract_text() or "")
        if i % 10 == 9:
            job.watch.report(pages_done=i + 1)
    job.watch.report(pages_done=count)
    scanned = [i for i, text in enumerate(pages) if len(text.strip()) < SCANNED_PAGE_CHARS]
    if len(scanned) > job.limits.max_ocr_pages:
        raise job.refuse(
            "max_ocr_pages",
            f"{len(scanned)} pages have no text layer; at most {job.limits.max_ocr_pages} "
            "per file are sent to OCR",
        )
    job.ocr_pages = [i + 1 for i in scanned]
    if scanned:
        import numpy as np
        import pypdfium2

        document = pypdfium2.PdfDocument(str(path))
        try:
            job.watch.report(phase="ocr", ocr_total=len(scanned), ocr_done=0)
            for done, i in enumerate(scanned, start=1):
                image = document[i].render(scale=PDF_RENDER_SCALE).to_pil().convert("RGB")
                pages[i] = _Ocr.read(np.asarray(image))
                job.watch.report(ocr_done=done)
        finally:
            document.close()
    return "\n\n".join(page.strip() for page in pages if page.strip())


def load_docx(path: Path, job: LoadJob) -> str:
    import docx

    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells]
            if any(cells):
                parts.append(" | ".join(cells))
    return "\n\n".join(parts)


def load_pptx(path: Path, job: LoadJob) -> str:
    from pptx import Presentation

    slides = []
    for slide in Presentation(str(path)).slides:
        texts = [
            shape.text_frame.text for shape in slide.shapes if shape.has_text_frame and shape.text_frame.text
        ]
        if texts:
            slides.append("\n".join(texts))
    return "\n\n".join(slides)


def load_xlsx(path: Path, job: LoadJob) -> str:
    from openpyxl import load_workbook

    book = load_workbook(str(path), read_only=True, data_only=True)
    try:
        sheets = []
        for sheet in book.worksheets:
            rows = [
                " | ".join("" if v is None else str(v) for v in row)
                for row in sheet.iter_rows(values_only=True)
                if any(v is not None for v in row)
            ]
            if rows:
                sheets.append(f"{sheet.title}\n" + "\n".join(rows))
        return "\n\n".join(sheets)
    finally:
        book.close()


def load_csv(path: Path, job: LoadJob) -> str:
    rows = list(csv.reader(io.StringIO(_read_text(path))))
    if not rows:
        return ""
    header, body = rows[0], rows[1:]
    if not body:
        return ", ".join(header)
    return "\n".join(
        "; ".join(f"{h}: {v}" for h, v in zip(header, row, strict=False) if v.strip()) for row in body
    )


def _json_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1) if not isinstance(value, str) else value


def load_json(path: Path, job: LoadJob) -> str:
    return _json_text(json.loads(_read_text(path)))


def load_jsonl(path: Path, job: LoadJob) -> str:
    lines = [line for line in _read_text(path).splitlines() if line.strip()]
    return "\n\n".join(_json_text(json.loads(line)) for line in lines)


def _html_text(markup: str | bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "lxml")
    for tag in soup(["script", "style", "noscript"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)


def load_html(path: Path, job: LoadJob) -> str:
    return _html_text(path.read_bytes())


def load_epub(path: Path, job: LoadJob) -> str:
    import ebooklib
    from ebooklib import epub

    book = epub.read_epub(str(path), options={"ignore_ncx": True})
    return "\n\n".join(
        text
        for item in book.get_items_of_type(ebooklib.ITEM_DOCUMENT)
        if (text := _html_text(item.get_content()))
    )


def load_image(path: Path, job: LoadJob) -> str:
    if job.limits.max_ocr_pages < 1:
        raise job.refuse("max_ocr_pages", "an image needs OCR, which is switched off")
    job.ocr_pages = [1]
    return _Ocr.read(str(path))


def check_zip(path: Path, job: LoadJob) -> None:
    """Refuse a zip container whose parts would unpack too large, before any parser inflates them."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise LoaderError(f"could not read {job.name}: it is not a valid zip container ({exc})") from exc
    unzipped = sum(m.file_size for m in members)
    packed = max(sum(m.compress_size for m in members), 1)
    limit = int(job.limits.max_unzipped_mb * 1024 * 1024)
    if unzipped > limit:
        raise job.refuse(
            "max_unzipped_mb",
            f"unzips to {unzipped / 1024 / 1024:.1f} MB; at most {job.limits.max_unzipped_mb:g} MB",
        )
    if unzipped / packed > job.limits.max_zip_ratio:
        raise job.refuse(
            "max_zip_ratio",
            f"unzips to {unzipped / packed:.0f} times its compressed size; "
            f"at most {job.limits.max_zip_ratio:g} times",
        )


LOADERS: dict[str, tuple[str, Callable[[Path, LoadJob], str]]] = {
    ".txt": ("TextLoader", load_txt),
    ".md": ("MarkdownLoader", load_txt),
    ".markdown": ("MarkdownLoader", load_txt),
    ".pdf": ("PDFLoader", load_pdf),
    ".docx": ("DocxLoader", load_docx),
    ".pptx": ("PptxLoader", load_pptx),
    ".xlsx": ("XlsxLoader", load_xlsx),
    ".csv": ("CSVLoader", load_csv),
    ".json": ("JSONLoader", load_json),
    ".jsonl": ("JSONLinesLoader", load_jsonl),
    ".html": ("HTMLLoader", load_html),
    ".htm": ("HTMLLoader", load_html),
    ".epub": ("EpubLoader", load_epub),
    ".png": ("ImageOCRLoader", load_image),
    ".jpg": ("ImageOCRLoader", load_image),
    ".jpeg": ("ImageOCRLoader", load_image),
    ".bmp": ("ImageOCRLoader", load_image),
}
SUPPORTED_EXTENSIONS = tuple(LOADERS)


def is_supported(file_name: str) -> bool:
    return Path(file_name).suffix.lower() in LOADERS


def unsupported_reason(file_name: str) -> str:
    ext = Path(file_name).suffix.lower()
    return f"unsupported file type {ext or '(no extension)'!r}; supported: {', '.join(SUPPORTED_EXTENSIONS)}"


def loader_name(path: Path) -> str:
    if not is_supported(path.name):
        raise LoaderError(unsupported_reason(path.name))
    return LOADERS[path.suffix.lower()][0]


def load_file(
    path: Path,
    limits: IngestLimitSettings | None = None,
    name: str | None = None,
    watch: FileWatch | None = None,
) -> LoadedText:
    """The text of one file; LoaderError with a readable reason for anything that cannot be read.

    LimitExceeded (a LoaderError) when the file would cause more work than ``limits`` allow;
    IngestCancelled when ``watch``'s job was cancelled.
    """
    loader = loader_name(path)
    limits = limits or IngestLimitSettings()
    job = LoadJob(name or path.name, limits)
    job.watch = watch or unwatched(job.name, limits.max_seconds_per_file)
    if path.suffix.lower() in ZIP_CONTAINERS:
        check_zip(path, job)
    job.watch.report(phase="reading")
    try:
        text = LOADERS[path.suffix.lower()][1](path, job)
    except (LoaderError, IngestCancelled):
        raise
    except RecursionError as exc:  # deeply nested JSON, HTML or XML
        raise LoaderError(f"could not read {path.name}: it is nested too deeply") from exc
    except Exception as exc:  # every parser has its own exceptions; the user needs the reason, not a 500
        raise LoaderError(
            f"could not read {path.name} as {path.suffix.lower()}: {type(exc).__name__}: {exc}"
        ) from exc
    text = text.replace("\r\n", "\n").replace("\x00", "")
    if len(text) > limits.max_chars:
        raise job.refuse("max_chars", f"{len(text)} characters of text; at most {limits.max_chars} per file")
    if not text.strip():
        raise LoaderError(f"no text found in {path.name}")
    job.watch.check()
    return LoadedText(text=text, loader=loader, ocr_pages=job.ocr_pages)
