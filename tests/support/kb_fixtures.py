"""Documents of every supported type, generated on the spot, each with a Chinese and an English sentence."""

from __future__ import annotations

import json
from pathlib import Path

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")

ZH = "蓝鲸档案馆的钥匙放在三号柜子里"
EN = "The lighthouse ledger is stored in cabinet seven"


def _sentences(kind: str) -> tuple[str, str]:
    """A distinct pair per file type, so a search can tell the files apart."""
    return f"{ZH}（{kind}）。", f"{EN} ({kind})."


def write_txt(directory: Path) -> Path:
    zh, en = _sentences("txt")
    path = directory / "notes.txt"
    path.write_text(f"{zh}\n\n{en}\n", encoding="utf-8")
    return path


def write_md(directory: Path) -> Path:
    zh, en = _sentences("md")
    path = directory / "guide.md"
    path.write_text(f"# 指南\n\n{zh}\n\n## English\n\n{en}\n", encoding="utf-8")
    return path


def write_csv(directory: Path) -> Path:
    zh, en = _sentences("csv")
    path = directory / "table.csv"
    path.write_text(f'语言,句子\nzh,{zh}\nen,"{en}"\n', encoding="utf-8")
    return path


def write_json(directory: Path) -> Path:
    zh, en = _sentences("json")
    path = directory / "data.json"
    path.write_text(json.dumps({"zh": zh, "en": en}, ensure_ascii=False), encoding="utf-8")
    return path


def write_jsonl(directory: Path) -> Path:
    zh, en = _sentences("jsonl")
    path = directory / "lines.jsonl"
    path.write_text(
        json.dumps({"text": zh}, ensure_ascii=False) + "\n" + json.dumps({"text": en}) + "\n",
        encoding="utf-8",
    )
    return path


def write_html(directory: Path) -> Path:
    zh, en = _sentences("html")
    path = directory / "page.html"
    path.write_text(
        f"<html><head><script>var secret = 'script text';</script><style>p{{}}</style></head>"
        f"<body><h1>标题</h1><p>{zh}</p><p>{en}</p></body></html>",
        encoding="utf-8",
    )
    return path


def write_docx(directory: Path) -> Path:
    import docx

    zh, en = _sentences("docx")
    document = docx.Document()
    document.add_paragraph(zh)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "English"
    table.rows[0].cells[1].text = en  # tables are read too
    path = directory / "report.docx"
    document.save(str(path))
    return path


def write_pptx(directory: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    zh, en = _sentences("pptx")
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = zh
    box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(1))
    box.text_frame.text = en
    path = directory / "slides.pptx"
    deck.save(str(path))
    return path


def write_xlsx(directory: Path) -> Path:
    from openpyxl import Workbook

    zh, en = _sentences("xlsx")
    book = Workbook()
    sheet = book.active
    sheet.append(["zh", zh])
    sheet.append(["en", en])
    path = directory / "sheet.xlsx"
    book.save(str(path))
    return path


def write_epub(directory: Path) -> Path:
    from ebooklib import epub

    zh, en = _sentences("epub")
    book = epub.EpubBook()
    book.set_identifier("kb-test")
    book.set_title("测试")
    book.set_language("zh")
    chapter = epub.EpubHtml(title="一", file_name="c1.xhtml", lang="zh")
    chapter.content = f"<html><body><p>{zh}</p><p>{en}</p></body></html>"
    book.add_item(chapter)
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", chapter]
    path = directory / "book.epub"
    epub.write_epub(str(path), book)
    return path


def write_pdf(directory: Path) -> Path:
    from fpdf import FPDF

    zh, en = _sentences("pdf")
    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("zenhei", "", str(CJK_FONT))
    pdf.set_font("zenhei", size=14)
    pdf.multi_cell(0, 10, zh, new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 10, en, new_x="LMARGIN", new_y="NEXT")
    path = directory / "paper.pdf"
    pdf.output(str(path))
    return path


def text_image(lines: list[str], width: int = 1100):  # noqa: ANN201 - a PIL image
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(CJK_FONT), 36, index=0)
    image = Image.new("RGB", (width, 70 * len(lines) + 40), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((30, 30 + 70 * i), line, font=font, fill="black")
    return image


OCR_ZH = "仓库温度不能超过二十五度"
OCR_EN = "Invoice number 4711 is overdue"


def write_png(directory: Path) -> Path:
    path = directory / "scan.png"
    text_image([OCR_ZH, OCR_EN]).save(path)
    return path


def write_scanned_pdf(directory: Path) -> Path:
    """A PDF page that is only a picture of text, as a scanner makes it."""
    path = directory / "scanned.pdf"
    text_image(["扫描页面上的会议在周五举行", "The scanned meeting is on Friday"]).save(
        path, "PDF", resolution=100
    )
    return path


TEXT_WRITERS = [
    write_txt,
    write_md,
    write_csv,
    write_json,
    write_jsonl,
    write_html,
    write_docx,
    write_pptx,
    write_xlsx,
    write_epub,
]
FONT_WRITERS = [write_pdf]  # need the CJK font to draw Chinese
OCR_WRITERS = [write_png, write_scanned_pdf]


def kind_of(path: Path) -> str:
    return {".md": "md", ".htm": "html"}.get(path.suffix, path.suffix.lstrip("."))
