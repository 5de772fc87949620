"""How the knowledge-base page words and draws an ingestion job's files (no backend needed)."""

from __future__ import annotations

import pytest

from webui.kb_jobs import failed_files, file_fraction, file_label


def test_each_phase_has_its_words_and_its_share_of_the_bar() -> None:
    reading = {"name": "a.pdf", "phase": "reading", "pages_total": 10, "pages_done": 4}
    ocr = {"name": "a.pdf", "phase": "ocr", "ocr_total": 4, "ocr_done": 1}
    embedding = {"name": "a.pdf", "phase": "embedding", "chunks_total": 200, "chunks_done": 50}
    done = {"name": "a.pdf", "phase": "done", "chunks_total": 200, "ocr_pages": [2, 5], "seconds": 3.25}
    assert file_label(reading) == "a.pdf: reading page 4 of 10"
    assert file_label(ocr) == "a.pdf: OCR, page 1 of 4"
    assert file_label(embedding) == "a.pdf: embedding, 50 of 200 chunks"
    assert file_label(done) == "a.pdf: done, 200 chunks, OCR on page(s) 2, 5, 3.2 s"
    assert file_label({"name": "b.txt", "phase": "queued"}) == "b.txt: waiting"
    fractions = [file_fraction(e) for e in (reading, ocr, embedding, done)]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert file_fraction(reading) == pytest.approx(0.12)
    assert file_fraction({"name": "x", "phase": "reading"}) == 0.0  # no page count yet


def test_failed_files_come_from_the_result_or_from_the_job_itself() -> None:
    succeeded = {"state": "succeeded", "result": {"failed_files": {"b.txt": "no text found in b.txt"}}}
    assert failed_files(succeeded) == {"b.txt": "no text found in b.txt"}
    assert failed_files({"state": "succeeded", "result": {"failed_files": {}}}) == {}
    failed = {
        "state": "failed",
        "error": "knowledge base 'k' does not exist",
        "files": [{"name": "a.txt", "phase": "embedding"}, {"name": "c.txt", "phase": "done"}],
    }
    assert failed_files(failed) == {"a.txt": "knowledge base 'k' does not exist"}
    cancelled = {
        "state": "cancelled",
        "error": "cancelled",
        "files": [{"name": "a.txt", "phase": "cancelled"}],
    }
    assert failed_files(cancelled) == {"a.txt": "cancelled"}
