"""Threads that run background CPU work (ingestion) at a lower OS priority than serving.

On a small machine the embedder and the llama.cpp worker share the cores. A chat must not wait
for a 30,000-chunk upload, so the job's parsing, OCR and embedding run in threads whose
scheduling priority is lowered ("niced") when they start: the kernel then gives the cores to the
model worker and the event loop first, and the job the time left over. Linux sets the priority
per thread and a thread's children inherit it, so a BLAS or OCR pool created inside such a
thread is low priority too. Lowering needs no privilege; raising it again would, which is why
these threads are kept for background work only and never handed back to the default pool.
Elsewhere (no per-thread priority) the threads run at normal priority.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


def lower_this_thread(nice: int) -> bool:
    """Lower the calling thread's priority by ``nice`` steps; whether it took effect."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, thread_nice() + nice))
    except OSError as exc:
        logger.warning("could not lower the priority of a background thread: %s", exc)
        return False
    return True


def thread_nice() -> int:
    """The calling thread's nice value (Linux), or the process's elsewhere."""
    who = threading.get_native_id() if sys.platform.startswith("linux") else 0
    return os.getpriority(os.PRIO_PROCESS, who)


def low_priority_executor(workers: int, nice: int, name: str) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads, each lowered by ``nice`` steps before its first task."""
    return ThreadPoolExecutor(
        max_workers=max(1, workers),
        thread_name_prefix=name,
        initializer=lower_this_thread,
        initargs=(nice,),
    )


async def run_in(executor: Executor | None, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in ``executor``'s threads, or in the default ones (with this context) when None."""
    if executor is None:
        return await asyncio.to_thread(fn, *args)
    return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
