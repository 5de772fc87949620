"""The life of an ingestion job, as pure rules (no database, no clock of its own).

::

    queued ──▶ running ──▶ succeeded | failed | cancelled
      │  ▲        │
      │  └────────┘  its backend stopped or went silent: queued again (resumed), at most
      │               MAX_ATTEMPTS runs, then failed with the reason
      └──▶ cancelled  (cancel before it ran)

A file inside a job goes ``queued → reading → ocr → embedding → done | failed``; its dict in
``IngestJob.files`` carries the counters the web UI draws a bar from.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
MAX_ATTEMPTS = 3

TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({RUNNING, CANCELLED, FAILED}),
    RUNNING: frozenset({SUCCEEDED, FAILED, CANCELLED, QUEUED}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
}

FILE_PHASES = ("queued", "reading", "ocr", "embedding", "done", "failed")


class IllegalTransition(ValueError):
    pass


def check_transition(current: str, new: str) -> str:
    """``new`` when a job in ``current`` may go there; IllegalTransition otherwise."""
    if new not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(f"a {current} job cannot become {new}")
    return new


def is_terminal(state: str) -> bool:
    return state in TERMINAL


def is_stale(heartbeat: datetime | None, now: datetime, stale_s: float) -> bool:
    """Whether a running job's backend has stopped reporting (it died, or lost the database)."""
    return heartbeat is None or now - heartbeat > timedelta(seconds=stale_s)


def after_interruption(attempts: int) -> tuple[str, str]:
    """What becomes of a job whose run stopped with its backend: resumed, or failed with the reason."""
    if attempts < MAX_ATTEMPTS:
        return QUEUED, ""
    return FAILED, (
        f"the backend running this job stopped {attempts} times before it finished; "
        "it was not tried again (see the backend's log)"
    )


def new_files(names: list[str]) -> list[dict[str, Any]]:
    return [{"name": name, "phase": "queued"} for name in names]


def merge_file(files: list[dict[str, Any]], name: str, fields: dict[str, Any]) -> list[dict[str, Any]]:
    """The files with ``name``'s entry updated (added when new); a finished file stays finished."""
    out = [dict(f) for f in files]
    for entry in out:
        if entry["name"] == name:
            if entry.get("phase") in ("done", "failed") and fields.get("phase") not in ("done", "failed"):
                return out
            entry.update(fields)
            return out
    out.append({"name": name, "phase": "queued", **fields})
    return out


def file_fraction(entry: dict[str, Any]) -> float:
    """How far one file is, 0..1: reading pages, then OCR, then embedding chunks."""
    phase = entry.get("phase", "queued")
    if phase in ("done", "failed"):
        return 1.0
    if phase == "queued":
        return 0.0

    def part(done: str, total: str) -> float:
        t = entry.get(total) or 0
        return min(1.0, (entry.get(done) or 0) / t) if t else 0.0

    if phase == "reading":
        return 0.3 * part("pages_done", "pages_total")
    if phase == "ocr":
        return 0.3 + 0.3 * part("ocr_done", "ocr_total")
    return 0.6 + 0.4 * part("chunks_done", "chunks_total")  # embedding


def job_progress(files: list[dict[str, Any]]) -> float:
    """The whole job's progress, 0..1 (each file counts the same)."""
    if not files:
        return 0.0
    return sum(file_fraction(f) for f in files) / len(files)
