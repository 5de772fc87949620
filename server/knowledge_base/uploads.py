"""Uploaded bytes on disk: staged until indexed, or straight into the content folder.

An upload that is to be indexed is written into the knowledge base's staging folder and moves
into the content folder in the same step that commits its chunks, so an upload interrupted
before indexing (a crash, a kill, a failed parse) never leaves a file that the knowledge base
does not list. What a crash leaves in the staging folder is removed at the next start.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from server.knowledge_base.paths import KbPaths


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def save_to_content(paths: KbPaths, kb_name: str, file_name: str, data: bytes, *, override: bool) -> bool:
    """Write into the content folder; False if the file exists and ``override`` is off."""
    path = paths.file_path(kb_name, file_name)
    if path.exists() and not override:
        return False
    write_atomically(path, data)
    return True


def stage(paths: KbPaths, kb_name: str, file_name: str, data: bytes) -> Path:
    """Write an upload into the staging folder under a name of its own; returns its path."""
    paths.file_path(kb_name, file_name)  # the name is checked before anything is written
    directory = paths.staging_dir(kb_name) / os.urandom(8).hex()
    directory.mkdir(parents=True)
    path = directory / Path(file_name).name  # flat: the sub-folders are made in the content folder
    write_atomically(path, data)
    return path


def discard(path: Path) -> None:
    shutil.rmtree(path.parent, ignore_errors=True)


STALE_AFTER_S = 3600.0  # a staged upload this old belongs to no upload in flight, in any process


def stale_staging(paths: KbPaths, kb_name: str, older_than: float = STALE_AFTER_S) -> list[Path]:
    directory = paths.staging_dir(kb_name)
    if not directory.is_dir():
        return []
    limit = time.time() - older_than
    return [entry for entry in directory.iterdir() if entry.stat().st_mtime < limit]


def clear_staging(paths: KbPaths, kb_name: str, older_than: float = STALE_AFTER_S) -> int:
    """Remove what interrupted uploads left; returns how many entries went."""
    entries = stale_staging(paths, kb_name, older_than)
    for entry in entries:
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return len(entries)
