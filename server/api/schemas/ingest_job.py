"""Wire models of ingestion jobs (``/knowledge_base/jobs``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobFile(BaseModel):
    """One file of a job: its phase and the counters a progress bar is drawn from."""

    model_config = ConfigDict(extra="allow")

    name: str
    phase: str = Field(..., description="queued, reading, ocr, embedding, done, failed or cancelled")
    pages_total: int | None = None
    pages_done: int | None = None
    ocr_total: int | None = Field(None, description="Pages without a text layer, sent to OCR")
    ocr_done: int | None = None
    ocr_pages: list[int] | None = Field(None, description="1-based pages read by OCR")
    chunks_total: int | None = None
    chunks_done: int | None = Field(None, description="Chunks embedded so far")
    error: str | None = Field(None, description="Why the file failed")
    seconds: float | None = Field(None, description="Time the file took")


class JobInfo(BaseModel):
    id: str
    kind: Literal["upload", "update", "recreate", "temp_upload"]
    knowledge_base_name: str = Field(..., description="The knowledge base (empty for a file-chat upload)")
    state: JobState
    progress: float = Field(..., ge=0, le=1)
    files: list[JobFile]
    result: dict[str, Any] = Field(
        ..., description="What the synchronous endpoint answers in data (failed_files, id, events)"
    )
    error: str
    attempts: int = Field(..., description="Runs so far (a job is resumed after its backend stopped)")
    worker: str = Field(..., description="The backend running it (host:pid:id); empty while queued")
    background: bool
    cancel_requested: bool
    created_at: str
    started_at: str | None
    finished_at: str | None
    seconds: float | None


class JobResponse(BaseModel):
    code: int = 200
    msg: str = "success"
    data: JobInfo


class JobListResponse(BaseModel):
    code: int = 200
    msg: str = "success"
    data: list[JobInfo]
