"""Split a file's text into chunks, each with its character span in that text.

Chinese-aware recursive splitting (。！？；… then English sentence ends, then commas, then spaces),
Markdown-header sections first for .md, and Chatchat's optional title enhancement, which prefixes
each chunk with the title-like line above it so short headings still steer retrieval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from langchain_text_splitters import RecursiveCharacterTextSplitter

CHINESE_SEPARATORS = [
    r"\n\n",
    r"\n",
    r"。|！|？|…",
    r"\.\s|\!\s|\?\s",
    r"；|;\s",
    r"，|,\s",
    r" ",
    "",
]
RECURSIVE = "ChineseRecursiveTextSplitter"
MARKDOWN = "MarkdownHeaderTextSplitter"  # Chatchat's name for header-section splitting


@dataclass
class Chunk:
    text: str
    start: int
    end: int
    metadata: dict[str, Any] = field(default_factory=dict)


def _recursive(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        separators=CHINESE_SEPARATORS,
        is_separator_regex=True,
        keep_separator="end",
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, max(chunk_size - 1, 0)),
        strip_whitespace=True,
    )


def _locate(text: str, piece: str, cursor: int) -> int:
    """Where ``piece`` starts in ``text``, searching from ``cursor`` first (chunks come in order)."""
    position = text.find(piece, cursor)
    return position if position >= 0 else max(text.find(piece), 0)


def _split_recursive(text: str, base: int, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    chunks, cursor = [], 0
    for piece in _recursive(chunk_size, chunk_overlap).split_text(text):
        if not piece.strip():
            continue
        start = _locate(text, piece, cursor)
        cursor = start + 1
        chunks.append(Chunk(piece, base + start, base + start + len(piece)))
    return chunks


def split_text(
    text: str, *, markdown: bool, chunk_size: int, chunk_overlap: int, zh_title_enhance: bool = False
) -> tuple[list[Chunk], str]:
    """The chunks of ``text`` and the splitter's name."""
    if not markdown:
        chunks, name = _split_recursive(text, 0, chunk_size, chunk_overlap), RECURSIVE
    else:
        chunks = []
        for start, end, headers in markdown_sections(text):
            # The header line is not a chunk of its own: its path prefixes every chunk of the section.
            body_start = start
            header = _HEADER.match(text, start)
            if header is not None and header.start() == start:
                body_start = header.end()
            title = " / ".join(headers[k] for k in ("h1", "h2", "h3") if k in headers)
            for chunk in _split_recursive(text[body_start:end], body_start, chunk_size, chunk_overlap):
                chunk.metadata.update(headers)
                if title:
                    chunk.text = f"{title}\n{chunk.text}"
                chunks.append(chunk)
        name = MARKDOWN
    if zh_title_enhance:
        chunks = title_enhance(chunks)
    return chunks, name


_HEADER = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def markdown_sections(text: str) -> list[tuple[int, int, dict[str, str]]]:
    """(start, end, {h1, h2, h3}) of each header section, as exact spans of ``text``.

    langchain's MarkdownHeaderTextSplitter reflows lines, which loses the spans; headers inside
    fenced code blocks are skipped the same way it does.
    """
    fences = [m.span() for m in re.finditer(r"^```.*?^```", text, re.MULTILINE | re.DOTALL)]
    cuts: list[tuple[int, dict[str, str]]] = [(0, {})]
    stack: dict[str, str] = {}
    for match in _HEADER.finditer(text):
        if any(a <= match.start() < b for a, b in fences):
            continue
        level = len(match.group(1))
        stack = {k: v for k, v in stack.items() if int(k[1:]) < level}
        if level <= 3:
            stack[f"h{level}"] = match.group(2).strip()
        cuts.append((match.start(), dict(stack)))
    sections = []
    for (start, headers), (end, _) in zip(cuts, [*cuts[1:], (len(text), {})], strict=True):
        if text[start:end].strip():
            sections.append((start, end, headers))
    return sections


# ---- Chatchat's zh_title_enhance --------------------------------------------------------------

_ENDS_WITH_PUNCT = re.compile(r"[^\w\s]\Z")
_NUMERIC_START = re.compile(
    r"^\s*(\d+(\.\d+)*|[一二三四五六七八九十]+[、.．]|第[一二三四五六七八九十\d]+[章节条部分])"
)


def is_possible_title(text: str, max_length: int = 20) -> bool:
    """A short line, not ending in punctuation, with some letters: looks like a heading."""
    text = text.strip()
    if not text or "\n" in text or len(text) > max_length:
        return False
    if _ENDS_WITH_PUNCT.search(text) and not _NUMERIC_START.match(text):
        return False
    alpha = sum(ch.isalpha() for ch in text)
    return alpha / len(text) >= 0.5


def title_enhance(chunks: list[Chunk]) -> list[Chunk]:
    title = None
    for chunk in chunks:
        first_line = chunk.text.strip().split("\n", 1)[0]
        if is_possible_title(first_line):
            title = first_line
            chunk.metadata["category"] = "cn_Title"
            if chunk.text.strip() == first_line:
                continue
        if title:
            chunk.text = f"下文与({title})有关。{chunk.text}"
    return chunks
