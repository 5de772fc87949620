"""The job table's reads and writes; every state change is one conditional UPDATE.

Conditional (``WHERE state = ...``) so two backends can never both claim, finish or resume the
same job: whoever's UPDATE matched a row won, the other sees ``False``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.base import utcnow
from server.db.models.ingest_job import IngestJob
from server.jobs import states


@dataclass(frozen=True)
class JobView:
    """A job as read at one moment (detached from any session)."""

    id: str
    kind: str
    kb_name: str
    owner_id: int | None
    state: str
    background: bool
    cancel_requested: bool
    params: dict[str, Any]
    files: list[dict[str, Any]]
    result: dict[str, Any]
    error: str
    error_status: int
    attempts: int
    worker: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None

    @classmethod
    def of(cls, row: IngestJob) -> JobView:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})

    @property
    def progress(self) -> float:
        return 1.0 if self.state == states.SUCCEEDED else states.job_progress(self.files)

    @property
    def seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return ((self.finished_at or utcnow()) - self.started_at).total_seconds()


class JobStore:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self.db = db

    async def create(
        self,
        kind: str,
        kb_name: str,
        owner_id: int | None,
        params: dict[str, Any],
        file_names: list[str],
        *,
        background: bool,
    ) -> JobView:
        row = IngestJob(
            id=uuid.uuid4().hex,
            kind=kind,
            kb_name=kb_name,
            owner_id=owner_id,
            state=states.QUEUED,
            background=background,
            cancel_requested=False,
            params=params,
            files=states.new_files(file_names),
            result={},
            error="",
            error_status=0,
            attempts=0,
            worker="",
            created_at=utcnow(),
        )
        async with self.db() as session:
            session.add(row)
            await session.commit()
            return JobView.of(row)

    async def get(self, job_id: str) -> JobView | None:
        async with self.db() as session:
            row = await session.get(IngestJob, job_id)
            return JobView.of(row) if row is not None else None

    async def list_jobs(
        self,
        owner_id: int | None,
        *,
        everyone: bool,
        limit: int = 50,
        state: str | None = None,
        kb_name: str | None = None,
    ) -> list[JobView]:
        query = select(IngestJob).order_by(IngestJob.created_at.desc()).limit(limit)
        if kb_name is not None:
            query = query.where(IngestJob.kb_name == kb_name)
        if not everyone:
            query = query.where(IngestJob.owner_id == owner_id)
        if state:
            query = query.where(IngestJob.state == state)
        async with self.db() as session:
            return [JobView.of(r) for r in (await session.scalars(query)).all()]

    async def _update(self, job_id: str, where_state: tuple[str, ...], **values: Any) -> bool:
        async with self.db() as session:
            result = await session.execute(
                update(IngestJob)
                .where(IngestJob.id == job_id, IngestJob.state.in_(where_state))
                .values(**values)
            )
            await session.commit()
            return bool(getattr(result, "rowcount", 0))

    async def claim(self, job_id: str, worker: str) -> bool:
        """queued → running for this backend; False when it was cancelled or claimed meanwhile."""
        now = utcnow()
        async with self.db() as session:
            row = await session.get(IngestJob, job_id)
            if row is None or row.state != states.QUEUED:
                return False
            attempts = row.attempts + 1
        return await self._update(
            job_id,
            (states.QUEUED,),
            state=states.RUNNING,
            worker=worker,
            attempts=attempts,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
        )

    async def report(self, job_id: str, files: list[dict[str, Any]], result: dict[str, Any]) -> bool:
        """Progress and heartbeat of a running job; returns whether a cancel was asked for."""
        async with self.db() as session:
            await session.execute(
                update(IngestJob)
                .where(IngestJob.id == job_id, IngestJob.state == states.RUNNING)
                .values(files=files, result=result, heartbeat_at=utcnow())
            )
            await session.commit()
            flag = await session.scalar(select(IngestJob.cancel_requested).where(IngestJob.id == job_id))
            return bool(flag)

    async def finish(
        self,
        job_id: str,
        state: str,
        *,
        files: list[dict[str, Any]],
        result: dict[str, Any],
        error: str = "",
        error_status: int = 0,
    ) -> bool:
        states.check_transition(states.RUNNING, state)
        return await self._update(
            job_id,
            (states.RUNNING,),
            state=state,
            files=files,
            result=result,
            error=error,
            error_status=error_status,
            finished_at=utcnow(),
        )

    async def requeue(self, job_id: str, files: list[dict[str, Any]]) -> bool:
        """A running job this backend stops without finishing (it is shutting down): queued again."""
        return await self._update(job_id, (states.RUNNING,), state=states.QUEUED, files=files, worker="")

    async def request_cancel(self, job_id: str) -> str:
        """Ask a job to stop; a queued one is cancelled at once. Returns the state it is in now."""
        async with self.db() as session:
            await session.execute(
                update(IngestJob)
                .where(IngestJob.id == job_id, IngestJob.state.in_((states.QUEUED, states.RUNNING)))
                .values(cancel_requested=True)
            )
            await session.commit()
        await self._update(
            job_id, (states.QUEUED,), state=states.CANCELLED, error="cancelled", finished_at=utcnow()
        )
        job = await self.get(job_id)
        return job.state if job else states.CANCELLED

    async def stale(self, stale_s: float) -> list[JobView]:
        """Running jobs whose backend has been silent for ``stale_s`` seconds."""
        cutoff = utcnow() - timedelta(seconds=stale_s)
        async with self.db() as session:
            rows = (
                await session.scalars(
                    select(IngestJob).where(
                        IngestJob.state == states.RUNNING,
                        (IngestJob.heartbeat_at.is_(None)) | (IngestJob.heartbeat_at < cutoff),
                    )
                )
            ).all()
            return [JobView.of(r) for r in rows]

    async def queued_before(self, seconds: float) -> list[str]:
        """Ids of jobs queued longer than ``seconds`` ago (the queue may have lost their message)."""
        cutoff = utcnow() - timedelta(seconds=seconds)
        async with self.db() as session:
            rows = await session.scalars(
                select(IngestJob.id).where(IngestJob.state == states.QUEUED, IngestJob.created_at < cutoff)
            )
            return list(rows.all())

    async def recover(self, job: JobView, stale_s: float) -> str | None:
        """Resume (queued again) or fail a stale job; None when another backend got there first."""
        state, reason = states.after_interruption(job.attempts)
        if job.cancel_requested:
            state, reason = states.CANCELLED, "cancelled"
        cutoff = utcnow() - timedelta(seconds=stale_s)
        async with self.db() as session:
            result = await session.execute(
                update(IngestJob)
                .where(
                    IngestJob.id == job.id,
                    IngestJob.state == states.RUNNING,
                    (IngestJob.heartbeat_at.is_(None)) | (IngestJob.heartbeat_at < cutoff),
                )
                .values(
                    state=state,
                    worker="",
                    error=reason,
                    error_status=500 if state == states.FAILED else 0,
                    finished_at=None if state == states.QUEUED else utcnow(),
                )
            )
            await session.commit()
            return state if getattr(result, "rowcount", 0) else None
