"""Where a knowledge base keeps its files, and the checks that keep every path inside it.

Every user-supplied name passes through here before touching the disk: a knowledge-base name
must match a strict pattern, a file name is reduced to a safe base name, and the resolved path
must stay inside its folder (symlinks included).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from server.knowledge_base.errors import InvalidName

KB_NAME_RE = re.compile(r"^[A-Za-z0-9\u4e00-\u9fff][A-Za-z0-9_\-\u4e00-\u9fff]{0,49}$")
TEMP_ID_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_FILE_NAME = 200
MAX_FILE_NAME_BYTES = 255  # what ext4, XFS, btrfs and NTFS allow per path component
_DRIVE_PREFIX = re.compile(r"^[A-Za-z]:")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Names Windows reserves whatever their extension; a KB folder copied or served there breaks on them.
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
_FORBIDDEN_FILE_CHARS = re.compile(r'[<>:"|?*\x00-\x1f]')
# Multipart clients percent-encode what they cannot send raw; an encoded NUL or separator is an attack.
_ENCODED_SEPARATOR = re.compile(r"%(00|2f|5c)", re.IGNORECASE)


def check_kb_name(name: str) -> str:
    """Letters, digits, CJK, '_' and '-' only, at most 50 characters, not starting with '_' or '-'."""
    if not isinstance(name, str) or not KB_NAME_RE.fullmatch(name):
        raise InvalidName(
            f"invalid knowledge base name {name!r}: use 1-50 letters, digits, Chinese characters, "
            "'_' or '-', "
            "starting with a letter, digit or Chinese character"
        )
    return name


def safe_file_name(name: str) -> str:
    """The name as a plain base name, or InvalidName: no directories, traversal, NUL or control characters.

    A name that *contains* a path is refused rather than silently reduced, so a client never
    believes it wrote somewhere it did not.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidName("file name must not be empty")
    if _SURROGATE.search(name):
        raise InvalidName(
            f"file name {name.encode('utf-8', 'backslashreplace').decode()!r} is not valid Unicode"
        )
    name = unicodedata.normalize("NFC", name.strip())
    if _DRIVE_PREFIX.match(name):
        raise InvalidName(f"file name {name!r} starts with a drive letter; send the bare file name")
    if "\x00" in name:
        raise InvalidName(f"file name {name!r} contains a NUL character")
    if _ENCODED_SEPARATOR.search(name):
        raise InvalidName(f"file name {name!r} contains an encoded NUL or path separator")
    if "/" in name or "\\" in name:
        raise InvalidName(f"file name {name!r} must not contain a path ('/' or '\\\\')")
    if name in (".", "..") or name.startswith("."):
        raise InvalidName(f"file name {name!r} must not start with '.'")
    if _FORBIDDEN_FILE_CHARS.search(name):
        raise InvalidName(f"file name {name!r} contains a forbidden character")
    if name.endswith("."):
        raise InvalidName(f"file name {name!r} must not end with '.'")
    if _RESERVED.fullmatch(name):
        raise InvalidName(f"file name {name!r} is a reserved device name")
    if len(name) > MAX_FILE_NAME:
        raise InvalidName(f"file name is longer than {MAX_FILE_NAME} characters")
    size = len(name.encode("utf-8"))
    if size > MAX_FILE_NAME_BYTES:
        raise InvalidName(
            f"file name {name[:40]!r}... is {size} bytes in UTF-8; at most {MAX_FILE_NAME_BYTES} bytes "
            "are allowed (a Chinese character takes 3)"
        )
    return name


MAX_FOLDER_DEPTH = 8  # sub-folders a knowledge-base file name may name (``wiki/Home.MD`` is one)


def safe_relative_name(name: str) -> str:
    """A file name that may name sub-folders of the content folder (``wiki/Home.MD``), or InvalidName.

    Chatchat keeps a KB's files in sub-folders and its clients send those relative names, so
    ``/`` separates folders here; every part must be a safe base name, so ``..``, ``.``, an
    absolute path, a drive letter, a backslash, NUL and empty parts are still refused.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidName("file name must not be empty")
    name = unicodedata.normalize("NFC", name.strip()) if not _SURROGATE.search(name) else name
    if name.startswith("/"):
        raise InvalidName(
            f"file name {name!r} is an absolute path; send a path relative to the knowledge base"
        )
    parts = name.split("/")
    if len(parts) - 1 > MAX_FOLDER_DEPTH:
        raise InvalidName(f"file name {name!r} names more than {MAX_FOLDER_DEPTH} folders")
    if any(not part.strip() for part in parts):
        raise InvalidName(f"file name {name!r} has an empty folder name")
    if any(part.strip() in (".", "..") for part in parts):
        raise InvalidName(
            f"file name {name!r} leads outside its folder: '.' and '..' are not allowed in a path"
        )
    if len(name) > MAX_FILE_NAME:
        raise InvalidName(f"file name is longer than {MAX_FILE_NAME} characters")
    return "/".join(safe_file_name(part) for part in parts)


def relative_files(folder: Path) -> list[str]:
    """The files under ``folder`` as sorted relative names (``wiki/Home.MD``).

    Dot-files and dot-folders are skipped (the staging folder, editors' leftovers).
    """
    if not folder.is_dir():
        return []
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if len(relative.parts) - 1 > MAX_FOLDER_DEPTH:
            continue
        found.append(relative.as_posix())
    return sorted(found)


def inside(base: Path, candidate: Path) -> Path:
    """``candidate`` resolved (symlinks followed) if it stays under ``base``, else InvalidName."""
    base_resolved = base.resolve()
    resolved = candidate.resolve()
    if resolved != base_resolved and base_resolved not in resolved.parents:
        raise InvalidName(f"path {candidate.name!r} leads outside its knowledge base")
    return resolved


class KbPaths:
    """The folders of the knowledge bases under ``<data_dir>/knowledge_base``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = (data_dir / "knowledge_base").resolve()
        self.temp_root = (data_dir / "temp").resolve()

    def kb_dir(self, kb_name: str) -> Path:
        return inside(self.root, self.root / check_kb_name(kb_name))

    def content_dir(self, kb_name: str) -> Path:
        return inside(self.root, self.kb_dir(kb_name) / "content")

    def vector_store_dir(self, kb_name: str, embed_model: str) -> Path:
        if not KB_NAME_RE.fullmatch(embed_model.replace(".", "-")):
            raise InvalidName(f"invalid embedding model name {embed_model!r}")
        return inside(self.root, self.kb_dir(kb_name) / "vector_store" / embed_model)

    def staging_dir(self, kb_name: str) -> Path:
        """Uploads wait here until they are indexed; whatever is left after a crash is garbage."""
        return inside(self.root, self.kb_dir(kb_name) / ".staging")

    @property
    def lock_dir(self) -> Path:
        return self.root / ".locks"

    def file_path(self, kb_name: str, file_name: str) -> Path:
        content = self.content_dir(kb_name)
        return inside(content, content / safe_relative_name(file_name))

    def temp_dir(self, temp_id: str) -> Path:
        if not TEMP_ID_RE.fullmatch(temp_id or ""):
            raise InvalidName(f"invalid temporary knowledge id {temp_id!r}")
        return inside(self.temp_root, self.temp_root / temp_id)

    def temp_file_path(self, temp_id: str, file_name: str) -> Path:
        directory = self.temp_dir(temp_id)
        return inside(directory, directory / safe_file_name(file_name))
