"""The rules of an ingestion job's life, and the job table's conditional updates, on a real SQLite."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from server.db.base import utcnow
from server.db.engine import create_engine, session_factory
from server.db.migrate import upgrade
from server.db.models.ingest_job import IngestJob
from server.jobs import states
from server.jobs.store import JobStore


def test_only_the_drawn_transitions_are_allowed() -> None:
    assert states.check_transition(states.QUEUED, states.RUNNING) == states.RUNNING
    assert states.check_transition(states.RUNNING, states.QUEUED) == states.QUEUED  # handed back
    for done in states.TERMINAL:
        for target in states.STATES:
            with pytest.raises(states.IllegalTransition, match=f"a {done} job cannot become"):
                states.check_transition(done, target)
    with pytest.raises(states.IllegalTransition):
        states.check_transition(states.QUEUED, states.SUCCEEDED)


def test_an_interrupted_job_is_resumed_until_its_attempts_run_out() -> None:
    assert states.after_interruption(1) == (states.QUEUED, "")
    assert states.after_interruption(states.MAX_ATTEMPTS - 1)[0] == states.QUEUED
    state, reason = states.after_interruption(states.MAX_ATTEMPTS)
    assert state == states.FAILED
    assert f"stopped {states.MAX_ATTEMPTS} times" in reason


def test_staleness_is_measured_from_the_last_heartbeat() -> None:
    now = utcnow()
    assert states.is_stale(None, now, 30)
    assert states.is_stale(now - timedelta(seconds=31), now, 30)
    assert not states.is_stale(now - timedelta(seconds=5), now, 30)


def test_file_progress_merges_and_a_finished_file_stays_finished() -> None:
    files = states.new_files(["a.pdf", "b.txt"])
    files = states.merge_file(files, "a.pdf", {"phase": "reading", "pages_total": 10, "pages_done": 5})
    assert states.file_fraction(files[0]) == pytest.approx(0.15)
    files = states.merge_file(files, "a.pdf", {"phase": "ocr", "ocr_total": 4, "ocr_done": 2})
    assert states.file_fraction(files[0]) == pytest.approx(0.45)
    files = states.merge_file(files, "a.pdf", {"phase": "embedding", "chunks_total": 10, "chunks_done": 10})
    assert states.file_fraction(files[0]) == pytest.approx(1.0)
    files = states.merge_file(files, "b.txt", {"phase": "failed", "error": "no text found in b.txt"})
    late = states.merge_file(files, "b.txt", {"phase": "embedding", "chunks_done": 3})
    assert late[1] == {"name": "b.txt", "phase": "failed", "error": "no text found in b.txt"}
    assert states.job_progress(late) == pytest.approx(1.0)
    assert states.job_progress(states.new_files(["x"])) == 0.0
    added = states.merge_file([], "new.md", {"phase": "reading"})
    assert added == [{"name": "new.md", "phase": "reading"}]


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    asyncio.run(upgrade(engine))
    yield JobStore(session_factory(engine)), engine


def test_two_backends_cannot_both_claim_a_job(store) -> None:  # noqa: ANN001
    jobs, _ = store

    async def story() -> None:
        job = await jobs.create("upload", "kb", None, {}, ["a.txt"], background=True)
        first, second = await asyncio.gather(jobs.claim(job.id, "a"), jobs.claim(job.id, "b"))
        assert sorted([first, second]) == [False, True]
        running = await jobs.get(job.id)
        assert running is not None
        assert running.state == states.RUNNING and running.attempts == 1
        assert running.worker in ("a", "b")
        assert await jobs.finish(job.id, states.SUCCEEDED, files=[], result={"failed_files": {}})
        assert not await jobs.finish(job.id, states.FAILED, files=[], result={})  # already over
        assert (await jobs.get(job.id)).state == states.SUCCEEDED  # type: ignore[union-attr]

    asyncio.run(story())


def test_cancel_stops_a_queued_job_at_once_and_flags_a_running_one(store) -> None:  # noqa: ANN001
    jobs, _ = store

    async def story() -> None:
        queued = await jobs.create("upload", "kb", None, {}, ["a.txt"], background=False)
        assert await jobs.request_cancel(queued.id) == states.CANCELLED
        assert not await jobs.claim(queued.id, "a")  # nobody runs a cancelled job
        running = await jobs.create("update", "kb", None, {}, ["a.txt"], background=False)
        assert await jobs.claim(running.id, "a")
        assert await jobs.request_cancel(running.id) == states.RUNNING
        assert await jobs.report(running.id, [], {})  # the runner learns it at its next heartbeat
        listed = await jobs.list_jobs(None, everyone=True)
        assert [j.id for j in listed] == [running.id, queued.id]  # newest first
        assert [j.id for j in await jobs.list_jobs(None, everyone=True, state=states.CANCELLED)] == [
            queued.id
        ]
        assert await jobs.list_jobs(12345, everyone=False) == []  # another user's

    asyncio.run(story())


def test_a_silent_job_is_resumed_then_failed_with_a_reason(store) -> None:  # noqa: ANN001
    jobs, engine = store

    async def silence(job_id: str) -> None:
        async with session_factory(engine)() as session:
            await session.execute(
                update(IngestJob)
                .where(IngestJob.id == job_id)
                .values(heartbeat_at=utcnow() - timedelta(seconds=120))
            )
            await session.commit()

    async def story() -> None:
        job = await jobs.create("upload", "kb", None, {}, ["a.txt"], background=True)
        for attempt in range(1, states.MAX_ATTEMPTS + 1):
            assert await jobs.claim(job.id, "dead backend")
            assert [j.id for j in await jobs.stale(30)] == []  # it just reported
            await silence(job.id)
            stale = await jobs.stale(30)
            assert [j.id for j in stale] == [job.id]
            expected = states.QUEUED if attempt < states.MAX_ATTEMPTS else states.FAILED
            assert await jobs.recover(stale[0], 30) == expected
            assert await jobs.recover(stale[0], 30) is None  # a second backend finds nothing to do
        final = await jobs.get(job.id)
        assert final is not None and final.state == states.FAILED
        assert "stopped 3 times" in final.error and final.finished_at is not None

    asyncio.run(story())
