"""What the web UI adds to the time to first token: Enter in the browser → first visible answer
text, against the backend's own time to first token for the same request, printed as JSON.

Both are measured in one run of the whole stack (``startup.py --all``) with the bundled model:
  api_ttft_ms   POST /chat/chat (stream), request sent → first text event (httpx, this process)
  ui_ttft_ms    Enter pressed in Chromium → first answer character drawn in the page
                (``performance.now()`` in the page: a MutationObserver on the answer bubble)
  ui_overhead_ms = ui - api, per run; the median is the number to watch.

Usage: python bench/ui_first_token.py [--runs 5] [--max-tokens 16]
Target: ui_overhead_ms median <= 150.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.launcher.harness import running_stack  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
QUESTIONS = [
    "Name a colour.",
    "Name a fruit.",
    "Name an animal.",
    "Name a city.",
    "Name a tree.",
    "Name a river.",
    "Name a metal.",
]

# Armed before Enter: resolves with performance.now() once the new answer bubble shows text
# other than the "thinking…" caption (answer text is in stMarkdownContainer; captions are not).
WATCH_FIRST_TOKEN = """(before) => new Promise((resolve) => {
  const seen = () => {
    const bubbles = document.querySelectorAll('[data-testid="stChatMessage"]');
    if (bubbles.length <= before + 1) return false;
    const answer = bubbles[before + 1];
    const text = [...answer.querySelectorAll('[data-testid="stMarkdownContainer"]')]
      .filter((n) => !n.closest('[data-testid="stCaptionContainer"]') && !n.closest('button'))
      .map((n) => n.innerText).join('').trim();
    return text.length > 0;
  };
  const observer = new MutationObserver(() => {
    if (seen()) { observer.disconnect(); resolve(performance.now()); }
  });
  observer.observe(document.body, {subtree: true, childList: true, characterData: true});
})"""


def api_ttft(api: str, question: str, max_tokens: int) -> float:
    body = {"query": question, "stream": True, "max_tokens": max_tokens, "temperature": 0.0}
    start = time.perf_counter()
    with httpx.stream("POST", f"{api}/chat/chat", json=body, timeout=300) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: ") and json.loads(line[6:]).get("text"):
                first = time.perf_counter()
                break
        else:
            raise RuntimeError("the stream ended without text")
    return (first - start) * 1000


def ui_ttft(page, question: str) -> float:  # noqa: ANN001 - a Playwright page
    chat_input = page.locator('[data-testid="stChatInput"] textarea')
    before = page.locator('[data-testid="stChatMessage"]').count()
    chat_input.fill(question)
    page.evaluate("() => { window.__first = null; }")
    page.evaluate(f"() => {{ ({WATCH_FIRST_TOKEN})({before}).then((t) => {{ window.__first = t; }}); }}")
    # Both ends on the page's clock; the start is read just before the key press is sent, so the
    # driver's round trip counts against the UI (the overhead is if anything overstated).
    enter_at = page.evaluate("() => performance.now()")
    chat_input.press("Enter")
    page.wait_for_function("() => window.__first !== null", timeout=120_000)
    first = page.evaluate("() => window.__first")
    idle(page)
    return float(first) - float(enter_at)


def idle(page) -> None:  # noqa: ANN001 - a Playwright page
    """Until Streamlit's script run has finished."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=300_000
    )


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as root, running_stack(Path(root), ("--all",)) as stack:
        api = stack.urls.api
        api_ttft(api, "Warm up.", 4)  # the model's first call loads caches
        progress(f"stack up at {stack.urls.webui}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(stack.urls.webui)
            page.locator('[data-testid="stChatInput"] textarea').wait_for()
            sidebar = page.get_by_test_id("stSidebar")
            sidebar.get_by_text("Generation settings").click()
            for label, value in (("Max tokens", args.max_tokens), ("History turns", 0)):
                box = sidebar.get_by_role("spinbutton", name=label)  # as the API call: no history
                box.fill(str(value))
                box.press("Enter")
                idle(page)
            progress("page ready")
            rows = []
            for run in range(args.runs):
                question = QUESTIONS[run % len(QUESTIONS)]
                # The same request both ways, alternating, so load drifts hit both alike.
                api_ms = api_ttft(api, question, args.max_tokens)
                ui_ms = ui_ttft(page, question)
                rows.append({"question": question, "api_ttft_ms": api_ms, "ui_ttft_ms": ui_ms})
                progress(f"run {run + 1}: api {api_ms:.0f} ms, ui {ui_ms:.0f} ms")
            browser.close()

    overhead = [r["ui_ttft_ms"] - r["api_ttft_ms"] for r in rows]
    print(
        json.dumps(
            {
                "runs": args.runs,
                "max_tokens": args.max_tokens,
                "api_ttft_ms_median": round(statistics.median(r["api_ttft_ms"] for r in rows), 1),
                "ui_ttft_ms_median": round(statistics.median(r["ui_ttft_ms"] for r in rows), 1),
                "ui_overhead_ms_median": round(statistics.median(overhead), 1),
                "ui_overhead_ms_max": round(max(overhead), 1),
                "target_overhead_ms": 150,
                "samples": [
                    {k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()} for r in rows
                ],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
