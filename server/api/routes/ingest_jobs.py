"""``/knowledge_base/jobs``: ingestion jobs, for their owner and admins; progress as SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sse_starlette import EventSourceResponse

from server.api.deps import CurrentUser, IngestJobsDep
from server.api.schemas.common import BaseResponse, OpenApiResponses
from server.api.schemas.ingest_job import JobInfo, JobListResponse, JobResponse, JobState
from server.api.services.ingest_jobs import job_answer

router = APIRouter(prefix="/knowledge_base/jobs", tags=["knowledge base"])

ERRORS: OpenApiResponses = {
    404: {"model": BaseResponse, "description": "No such job, or not the caller's (admins see all)"},
}


@router.get("", response_model=JobListResponse)
async def list_jobs(
    jobs: IngestJobsDep,
    principal: CurrentUser,
    state: Annotated[JobState | None, Query(description="Only jobs in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    knowledge_base_name: Annotated[str | None, Query(description="Only this knowledge base's jobs")] = None,
) -> JobListResponse:
    """The caller's jobs (an admin's: everyone's), newest first: running and recent ones."""
    found = await jobs.list_jobs(principal, limit=limit, state=state, kb_name=knowledge_base_name)
    return JobListResponse(data=[JobInfo(**job_answer(j)) for j in found])


@router.get("/{job_id}", response_model=JobResponse, responses=ERRORS)
async def get_job(job_id: str, jobs: IngestJobsDep, principal: CurrentUser) -> JobResponse:
    """State, progress per file (pages, pages OCR'd, chunks embedded), result, errors and timings."""
    return JobResponse(data=JobInfo(**job_answer(await jobs.get(job_id, principal))))


@router.post("/{job_id}/cancel", response_model=JobResponse, responses=ERRORS)
async def cancel_job(job_id: str, jobs: IngestJobsDep, principal: CurrentUser) -> JobResponse:
    """Stop the job: a queued one at once, a running one at its next page or batch (on any backend)."""
    return JobResponse(data=JobInfo(**job_answer(await jobs.cancel(job_id, principal))))


@router.get("/{job_id}/events", response_class=EventSourceResponse, responses=ERRORS)
async def job_events(
    job_id: str, jobs: IngestJobsDep, principal: CurrentUser, request: Request
) -> EventSourceResponse:
    """The job as SSE: one ``data: {job}`` event each time it changes, the last when it has ended.

    Leaving this stream does not cancel the job (use ``/cancel``).
    """
    await jobs.get(job_id, principal)

    async def events() -> AsyncIterator[str]:
        async for job in jobs.watch(job_id):
            yield json.dumps(JobInfo(**job_answer(job)).model_dump(), ensure_ascii=False)

    return EventSourceResponse(events())
