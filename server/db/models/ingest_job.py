"""Ingestion jobs: one row per upload, update, rebuild or file-chat upload that parses and embeds.

The row is the job's whole story, readable by every backend replica: what was asked
(``params``), how far each file got (``files``), what came out (``result``) and why it failed
(``error``). The queue library only carries the job's id; this table is what survives.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, utcnow


class IngestJob(Base):
    __tablename__ = "ingest_job"
    __table_args__ = (
        Index("ix_ingest_job_owner_id_created_at", "owner_id", "created_at"),
        Index("ix_ingest_job_state", "state"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # upload | update | recreate | temp_upload
    kb_name: Mapped[str] = mapped_column(String(50), default="")  # the temp upload's id for temp_upload
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )
    state: Mapped[str] = mapped_column(String(16), default="queued")  # see server.jobs.states
    background: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # per-file progress and result
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    error_status: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str] = mapped_column(String(64), default="")  # the backend that runs it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
