"""Ingestion as jobs: what upload_docs, update_docs, recreate_vector_store and upload_temp_docs do.

A route submits a job (its files go to ``<data_dir>/jobs/<id>/``, which every replica shares
like the rest of ``data_dir``), then either answers with the job id (``background``) or waits
for it and answers as Chatchat did; a waiting client that goes away cancels its job. Jobs run
on the huey worker threads of whichever backend takes them from the queue (``kb.ingest_workers``
per backend); each job's coroutine runs on that backend's event loop, its parsing and
embedding in threads, reporting progress to the job's row every second (the heartbeat). A
backend that stops hands its running jobs back to the queue; one that died goes silent, and
any backend resumes its jobs after ``kb.job_stale_s`` (at most ``MAX_ATTEMPTS`` runs).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs import Settings
from server.api.errors import http_status
from server.auth.principal import Principal
from server.core.errors import DomainError, Forbidden, NotFound
from server.core.low_priority import low_priority_executor
from server.jobs import states
from server.jobs.queue import JobQueue, queue_url
from server.jobs.store import JobStore, JobView
from server.knowledge_base.ingest import SplitOptions
from server.knowledge_base.paths import inside
from server.knowledge_base.service import KnowledgeBaseService
from server.knowledge_base.temp_kb import TempKnowledgeBases
from server.knowledge_base.watch import IngestCancelled, IngestWatch

logger = logging.getLogger(__name__)

UPLOAD, UPDATE, RECREATE, TEMP_UPLOAD = "upload", "update", "recreate", "temp_upload"
HEARTBEAT_S = 1.0
WAIT_POLL_S = 0.25

RecordTempOwner = Callable[[str, int | None], Awaitable[None]]


class JobFailed(DomainError):
    """A job a request waited for failed: its status and reason, as if the request had failed itself."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class JobNotFound(NotFound):
    pass


class _Tracker:
    """The running job's files and result, updated from loader threads, flushed by the heartbeat."""

    def __init__(self, files: list[dict[str, Any]]) -> None:
        self._lock = threading.Lock()
        self.files = [dict(f) for f in files]
        self.result: dict[str, Any] = {}
        self._started: dict[str, float] = {}  # when each file's work began (its timing)

    def update(self, name: str, fields: dict[str, Any]) -> None:
        now = time.monotonic()
        with self._lock:
            if fields.get("phase") not in (None, "queued"):
                self._started.setdefault(name, now)
            if fields.get("phase") in ("done", "failed") and name in self._started:
                fields = {**fields, "seconds": round(now - self._started[name], 3)}
            self.files = states.merge_file(self.files, name, fields)

    def snapshot(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        with self._lock:
            return [dict(f) for f in self.files], json.loads(json.dumps(self.result))


class IngestJobs:
    def __init__(
        self,
        settings: Settings,
        db: async_sessionmaker[AsyncSession],
        kb: KnowledgeBaseService,
        temp_kbs: TempKnowledgeBases,
        record_temp_owner: RecordTempOwner,
    ) -> None:
        self.settings = settings
        self.store = JobStore(db)
        self.kb = kb
        self.temp_kbs = temp_kbs
        self.record_temp_owner = record_temp_owner
        self.root = Path(settings.data_dir) / "jobs"
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.queue = JobQueue(queue_url(settings), self._run_blocking, settings.kb.ingest_workers)
        # the jobs' parsing, OCR and embedding: below serving's OS priority (kb.ingest_nice)
        self._cpu = low_priority_executor(settings.kb.ingest_workers, settings.kb.ingest_nice, "ingest-job")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watches: dict[str, IngestWatch] = {}
        self._closing = False
        self._reaper: asyncio.Task[None] | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.queue.start)
        self._reaper = self._loop.create_task(self._reap_forever())

    async def close(self) -> None:
        """Stop taking jobs; running ones go back to the queue for the next start (or another replica)."""
        self._closing = True
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        consumer = self.queue._consumer
        if consumer is not None:
            consumer.stop_flag.set()  # before the jobs hand back: no thread takes one again
        for watch in list(self._watches.values()):
            watch.cancel.set()
        await asyncio.to_thread(self.queue.stop)
        self._cpu.shutdown(wait=False, cancel_futures=True)

    async def _reap_forever(self) -> None:
        every = max(1.0, self.settings.kb.job_stale_s / 3)
        while True:
            try:
                await self.reap()
            except Exception:  # the database may be away for a moment; try again next round
                logger.exception("could not check for interrupted ingestion jobs")
            await asyncio.sleep(every)

    async def reap(self) -> list[str]:
        """Resume (or fail) running jobs whose backend went silent; returns the ids resumed."""
        resumed = []
        for job in await self.store.stale(self.settings.kb.job_stale_s):
            if job.id in self._watches:
                continue  # ours, and alive (a slow heartbeat)
            state = await self.store.recover(job, self.settings.kb.job_stale_s)
            if state == states.QUEUED:
                logger.warning("ingestion job %s lost its backend; resuming it", job.id)
                await asyncio.to_thread(self.queue.enqueue, job.id)
                resumed.append(job.id)
            elif state is not None:
                logger.warning("ingestion job %s lost its backend: %s", job.id, state)
                await asyncio.to_thread(self._discard_files, job.id)
        # a job recorded but whose queue message is gone (the queue's file was lost, or the
        # backend died between the two writes) is queued again; a second message is harmless,
        # since only one claim of a job can succeed
        waiting = await self.store.queued_before(self.settings.kb.job_stale_s)
        if waiting:
            pending = await asyncio.to_thread(self.queue.pending_ids)
            for job_id in waiting:
                if job_id not in pending:
                    logger.warning("ingestion job %s was not in the queue; queueing it again", job_id)
                    await asyncio.to_thread(self.queue.enqueue, job_id)
                    resumed.append(job_id)
        return resumed

    # ---- submitting, reading, waiting -----------------------------------------------------

    def files_dir(self, job_id: str) -> Path:
        return self.root / job_id / "files"

    async def submit(
        self,
        kind: str,
        kb_name: str,
        principal: Principal,
        params: dict[str, Any],
        *,
        file_names: list[str],
        uploads: list[tuple[str, bytes]] | None = None,
        background: bool = False,
    ) -> JobView:
        """Record the job, put its files beside it, queue it."""
        job = await self.store.create(
            kind, kb_name, principal.owner_id, params, file_names, background=background
        )
        if uploads:
            await asyncio.to_thread(self._save_files, job.id, uploads)
        await asyncio.to_thread(self.queue.enqueue, job.id)
        return job

    def _save_files(self, job_id: str, uploads: list[tuple[str, bytes]]) -> None:
        folder = self.files_dir(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in uploads:  # names passed safe_file_name already; a KB's may hold sub-folders
            path = inside(folder, folder / name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def _load_files(self, job: JobView) -> list[tuple[str, bytes]]:
        folder = self.files_dir(job.id)
        return [(name, (folder / name).read_bytes()) for name in job.params.get("uploads", [])]

    def _discard_files(self, job_id: str) -> None:
        shutil.rmtree(self.root / job_id, ignore_errors=True)

    async def get(self, job_id: str, principal: Principal) -> JobView:
        """The job, for its owner or an admin (404 for anyone else, as for a job that is not there)."""
        job = await self.store.get(job_id)
        if job is None or not self.may_see(principal, job):
            raise JobNotFound(f"no ingestion job {job_id!r}")
        return job

    @staticmethod
    def may_see(principal: Principal, job: JobView) -> bool:
        return principal.unrestricted or principal.is_admin or job.owner_id == principal.id

    async def list_jobs(
        self, principal: Principal, *, limit: int, state: str | None, kb_name: str | None = None
    ) -> list[JobView]:
        everyone = principal.unrestricted or principal.is_admin
        return await self.store.list_jobs(
            principal.id, everyone=everyone, limit=limit, state=state, kb_name=kb_name
        )

    async def cancel(self, job_id: str, principal: Principal) -> JobView:
        job = await self.get(job_id, principal)
        if states.is_terminal(job.state):
            return job
        await self.store.request_cancel(job_id)
        if (watch := self._watches.get(job_id)) is not None:
            watch.cancel.set()  # ours: stop now rather than at the next heartbeat
        return await self.get(job_id, principal)

    async def abandon(self, job_id: str) -> None:
        """The client that waited for this job left: the work it started stops."""
        logger.info("client left; cancelling ingestion job %s", job_id)
        await self.store.request_cancel(job_id)
        if (own := self._watches.get(job_id)) is not None:
            own.cancel.set()

    async def watch(self, job_id: str, request: Request | None = None) -> AsyncIterator[JobView]:
        """The job each time it changes, until it ends; a waiting client that leaves cancels it."""
        last: tuple[Any, ...] | None = None
        while True:
            job = await self.store.get(job_id)
            if job is None:
                raise JobNotFound(f"no ingestion job {job_id!r}")
            seen = (job.state, job.files, job.result, job.error)
            if seen != last:
                last = seen
                yield job
            if states.is_terminal(job.state):
                return
            if request is not None and await request.is_disconnected():
                await self.abandon(job_id)
                return
            await asyncio.sleep(WAIT_POLL_S)

    async def wait(self, job_id: str, request: Request | None = None) -> JobView:
        """The finished job; JobFailed (its status, its reason) when it failed or was cancelled."""
        job: JobView | None = None
        async for seen in self.watch(job_id, request):
            job = seen
        assert job is not None
        if job.state == states.SUCCEEDED:
            return job
        if job.state == states.CANCELLED:
            raise JobFailed(f"ingestion job {job_id} was cancelled", 409)
        if not states.is_terminal(job.state):  # the client left; nobody reads this answer
            raise JobFailed(f"ingestion job {job_id} was cancelled: the client disconnected", 499)
        raise JobFailed(job.error or f"ingestion job {job_id} failed", job.error_status or 500)

    # ---- running (on a huey worker thread, then on the event loop) ------------------------

    def _run_blocking(self, job_id: str) -> None:
        if self._loop is None or self._loop.is_closed():
            raise RuntimeError("the backend's event loop is not running")
        asyncio.run_coroutine_threadsafe(self.run(job_id), self._loop).result()

    async def run(self, job_id: str) -> None:
        if not await self.store.claim(job_id, self.worker_id):
            return  # cancelled before it ran, or already taken
        job = await self.store.get(job_id)
        assert job is not None
        tracker = _Tracker(job.files)
        watch = IngestWatch(on_progress=tracker.update)
        self._watches[job_id] = watch
        beat = asyncio.get_running_loop().create_task(self._heartbeat(job_id, tracker, watch))
        state, error, status = states.SUCCEEDED, "", 0
        try:
            await self._execute(job, tracker, watch)
        except IngestCancelled:
            if self._closing:  # the backend is stopping, not the user: the job runs again later
                beat.cancel()
                await asyncio.gather(beat, return_exceptions=True)
                files, _ = tracker.snapshot()
                if await self.store.requeue(job_id, states.new_files([f["name"] for f in files])):
                    await asyncio.to_thread(self.queue.enqueue, job_id)
                self._watches.pop(job_id, None)
                return
            state, error, status = states.CANCELLED, "cancelled", 409
        except DomainError as exc:
            state, error, status = states.FAILED, exc.message, http_status(exc)
        except Exception as exc:
            logger.exception("ingestion job %s failed", job_id)
            state, error, status = states.FAILED, f"{type(exc).__name__}: {exc}", 500
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
        files, result = tracker.snapshot()
        if state == states.CANCELLED:
            files = [f if f["phase"] in ("done", "failed") else {**f, "phase": "cancelled"} for f in files]
        await asyncio.to_thread(self._discard_files, job_id)  # before it ends: a waiter finds nothing left
        await self.store.finish(job_id, state, files=files, result=result, error=error, error_status=status)
        self._watches.pop(job_id, None)

    async def _heartbeat(self, job_id: str, tracker: _Tracker, watch: IngestWatch) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            files, result = tracker.snapshot()
            try:
                if await self.store.report(job_id, files, result):
                    watch.cancel.set()  # asked on another backend
            except Exception:
                logger.exception("could not record the progress of ingestion job %s", job_id)

    def _options(self, job: JobView, watch: IngestWatch) -> SplitOptions:
        split = job.params["split"]
        return SplitOptions(
            split["chunk_size"],
            split["chunk_overlap"],
            split["zh_title_enhance"],
            self.settings.kb.limits,
            watch,
            self._cpu,
        )

    async def _execute(self, job: JobView, tracker: _Tracker, watch: IngestWatch) -> None:
        options = self._options(job, watch)
        params = job.params
        failed: dict[str, str]
        if job.kind == RECREATE:
            events: list[dict[str, Any]] = []
            tracker.result = {"events": events}
            async for event in self.kb.recreate(
                job.kb_name,
                options,
                embed_model=params.get("embed_model"),
                allow_empty_kb=params.get("allow_empty_kb", True),
                vs_type=params.get("vs_type"),
            ):
                events.append(event)
                if doc := event.get("doc"):
                    ok = event.get("code") == 200
                    tracker.update(
                        doc, {"phase": "done"} if ok else {"phase": "failed", "error": event.get("msg", "")}
                    )
            return
        if job.kind == UPLOAD:
            uploads = await asyncio.to_thread(self._load_files, job)
            failed = await self.kb.upload(
                job.kb_name,
                uploads,
                options,
                override=params.get("override", False),
                custom_docs=params.get("custom_docs") or {},
            )
            tracker.result = {"failed_files": failed}
        elif job.kind == UPDATE:
            failed = await self.kb.update_files(
                job.kb_name,
                params["file_names"],
                options,
                override_custom_docs=params.get("override_custom_docs", False),
                custom_docs=params.get("custom_docs") or {},
            )
            tracker.result = {"failed_files": failed}
        elif job.kind == TEMP_UPLOAD:
            uploads = await asyncio.to_thread(self._load_files, job)
            kb_id, failed = await self.temp_kbs.add(uploads, options, params.get("prev_id") or None)
            await self.record_temp_owner(kb_id, job.owner_id)
            tracker.result = {"id": kb_id, "failed_files": failed}
        else:
            raise ValueError(f"unknown job kind {job.kind!r}")
        for entry in tracker.snapshot()[0]:
            name = entry["name"]
            if name in failed:
                tracker.update(name, {"phase": "failed", "error": failed[name]})
            else:
                tracker.update(name, {"phase": "done"})


def job_answer(job: JobView) -> dict[str, Any]:
    """A job as the API shows it."""
    return {
        "id": job.id,
        "kind": job.kind,
        "knowledge_base_name": job.kb_name,
        "state": job.state,
        "progress": round(job.progress, 4),
        "files": job.files,
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "worker": job.worker,
        "background": job.background,
        "cancel_requested": job.cancel_requested,
        "created_at": job.created_at.isoformat() + "Z",
        "started_at": job.started_at.isoformat() + "Z" if job.started_at else None,
        "finished_at": job.finished_at.isoformat() + "Z" if job.finished_at else None,
        "seconds": job.seconds,
    }


__all__ = ["Forbidden", "IngestJobs", "JobFailed", "JobNotFound", "job_answer"]
