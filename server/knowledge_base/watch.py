"""What reading, splitting and embedding one file reports and obeys while it runs.

An ingestion job hands an :class:`IngestWatch` down through ``SplitOptions``; each file gets a
:class:`FileWatch` that the loaders and the embedding loop call at every page and batch.
``check`` is where the work stops: when the job was cancelled (``IngestCancelled``) or the file
has taken longer than ``kb.limits.max_seconds_per_file`` (``LimitExceeded``, naming both).
Progress goes to a callback, which must be cheap and thread-safe (loaders run in threads).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from server.knowledge_base.errors import LimitExceeded

Progress = Callable[[str, dict[str, Any]], None]


class IngestCancelled(Exception):
    """The job this work belongs to was cancelled; nothing of it is written."""


@dataclass
class IngestWatch:
    """One job's cancel flag and progress sink, shared by all its files."""

    cancel: threading.Event = field(default_factory=threading.Event)
    on_progress: Progress | None = None

    def file(self, name: str, max_seconds: float) -> FileWatch:
        return FileWatch(name, max_seconds, self)


@dataclass
class FileWatch:
    name: str
    max_seconds: float  # 0 = no limit
    job: IngestWatch | None = None
    started: float = field(default_factory=time.monotonic)

    def check(self) -> None:
        if self.job is not None and self.job.cancel.is_set():
            raise IngestCancelled(f"{self.name}: cancelled")
        if self.max_seconds and time.monotonic() - self.started > self.max_seconds:
            raise LimitExceeded(
                f"{self.name}: took longer than {self.max_seconds:g} s to read and embed; "
                "at most that per file (kb.limits.max_seconds_per_file)"
            )

    def note(self, **fields: Any) -> None:
        """Record progress (the file's phase and counters) without stopping anything."""
        if self.job is not None and self.job.on_progress is not None:
            self.job.on_progress(self.name, fields)

    def report(self, **fields: Any) -> None:
        """Record progress, then :meth:`check` (every report is also a point where work may stop)."""
        self.note(**fields)
        self.check()


def unwatched(name: str, max_seconds: float = 0.0) -> FileWatch:
    """A watch with only the time limit (work outside a job: samples, the CLI)."""
    return FileWatch(name, max_seconds)
