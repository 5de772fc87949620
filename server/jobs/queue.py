"""The queue ingestion jobs wait in, and the workers inside each backend that take them: huey.

huey because it runs embedded on the default install (a SQLite file, no server to start) and
lets several backend replicas share the work when ``database_url`` is PostgreSQL (its SQL
storage takes tasks with ``FOR UPDATE SKIP LOCKED``, so each job goes to exactly one replica)
or when ``kb.job_queue_url`` names a Redis. The queue carries only job ids: the job itself
(what to do, how far it got) is a row of ``ingest_job``.

The consumer runs as ``kb.ingest_workers`` threads of the backend process (no extra process to
start or supervise); each thread runs one job at a time, so at most that many run at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from configs import Settings

logger = logging.getLogger(__name__)

QUEUE_NAME = "chatchat-ingest"
TASK_NAME = "run_ingest_job"


def queue_url(settings: Settings) -> str:
    """Where the queue lives: ``kb.job_queue_url``, else beside ``database_url``."""
    if settings.kb.job_queue_url:
        return settings.kb.job_queue_url
    url = settings.sqlalchemy_url
    if url.startswith("postgresql"):
        scheme, rest = url.split("://", 1)
        return f"postgresql://{rest}"  # peewee speaks psycopg2, not asyncpg
    return f"sqlite:///{Path(settings.data_dir) / 'jobs' / 'queue.db'}"


def make_huey(url: str) -> Huey:
    """A huey for ``url``: ``sqlite:///file``, ``postgresql://...`` or ``redis://...``."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(QUEUE_NAME, filename=str(path), results=False, utc=True)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(QUEUE_NAME, url=url, results=False, utc=True)
    if url.startswith(("postgresql://", "postgres://")):
        from huey.contrib.sql_huey import SqlHuey

        return SqlHuey(QUEUE_NAME, database=url, results=False, utc=True)
    raise ValueError(
        f"kb.job_queue_url: cannot queue jobs at {url!r} (sqlite:///, postgresql:// or redis://)"
    )


class _EmbeddedConsumer(Consumer):
    """huey's consumer inside the backend: the server owns the process's signals, not huey."""

    def _set_signal_handlers(self) -> None:
        pass


class JobQueue:
    """Enqueue job ids; run them on ``workers`` threads with ``run_job`` (blocking, one job)."""

    def __init__(self, url: str, run_job: Callable[[str], None], workers: int) -> None:
        self.url = url
        self.huey = make_huey(url)
        self.workers = workers
        self._task: Any = self.huey.task(name=TASK_NAME)(run_job)
        self._consumer: _EmbeddedConsumer | None = None

    def enqueue(self, job_id: str) -> None:
        self._task(job_id)

    def pending_ids(self) -> set[str]:
        """The job ids waiting in the queue now."""
        return {str(task.args[0]) for task in self.huey.pending() if task.args}

    def start(self) -> None:
        if self.workers < 1:
            logger.info("kb.ingest_workers is 0: this backend queues ingestion jobs but runs none")
            return
        self._consumer = _EmbeddedConsumer(
            self.huey,
            workers=self.workers,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            backoff=1.3,
            max_delay=0.5,  # a queued job starts within half a second of an idle worker
            check_worker_health=False,
        )
        self._consumer.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking jobs; wait up to ``timeout`` s for the running ones to hand theirs back."""
        if self._consumer is not None:
            self._consumer.stop_flag.set()
            for _, thread in self._consumer.worker_threads:
                thread.join(timeout)
            self._consumer.scheduler.join(1.0)
            self._consumer = None
        self.huey.storage.close()
