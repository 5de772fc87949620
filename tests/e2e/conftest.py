"""The whole stack, started once per session exactly as a user starts it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from server.launcher.harness import RunningStack, start_stack
from tests.search_fakes import FakeInternet, fake_internet
from tests.support.tiny_cross_encoder import build_tiny_cross_encoder


@pytest.fixture(scope="session")
def internet() -> Iterator[FakeInternet]:
    """The outside world's search engines, served on 127.0.0.1 in their real wire formats."""
    with fake_internet() as running:
        yield running


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, internet: FakeInternet) -> Iterator[RunningStack]:
    tiny = build_tiny_cross_encoder(tmp_path_factory.mktemp("reranker"))
    env = {
        # rerankers: a cross-encoder by path (built here) and the chat model as a judge
        "CHATCHAT_RERANKERS": json.dumps(
            {
                "tiny": {"engine": "cross-encoder", "path": str(tiny)},
                "judge": {"engine": "llm", "candidates": 3},
            }
        ),
        "CHATCHAT_LOG_LEVEL": "DEBUG",  # every service then logs each request (the request-id test)
        "CHATCHAT_WORKER_KEEP_PROMPTS": "200",  # tests check what reached the model (received_prompt)
        "CHATCHAT_SEARCH__SEARXNG__BASE_URL": internet.url,
        "CHATCHAT_SEARCH__DUCKDUCKGO__ENABLED": "false",  # it would reach the internet
    }
    running = start_stack(tmp_path_factory.mktemp("stack"), ("--all",), env=env)
    yield running
    running.stop()


def sse_events(lines) -> list[dict]:
    """Parse ``data: {...}`` Server-Sent Events lines into dicts."""
    import json

    return [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ")]


def received_prompt(stack: RunningStack, containing: str) -> str:
    """The last prompt the model worker received that contains ``containing`` (fails if none did)."""
    import httpx

    from server.llm.cluster_auth import cluster_headers

    response = httpx.post(
        f"{stack.urls.worker}/debug/received_prompts",
        headers=cluster_headers(stack.cluster_secret),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    matching = [p for p in response.json()["prompts"] if containing in p]
    assert matching, f"no prompt the worker received contains {containing!r}"
    return matching[-1]


def metric(stack: RunningStack, sample: str, **labels: str) -> float:
    """One sample of the backend's ``/metrics`` (0 when it has not been recorded yet)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{stack.urls.api}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


# ---- real headless Chromium for the web UI (Debian's chromium; Playwright downloads nothing) ------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def chromium():
    """Module-scoped on purpose: Playwright's sync API keeps an event loop running in this thread,
    and later tests that call ``asyncio.run`` must not see it."""
    import os

    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `bash scripts/setup.sh --test` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)  # a busy 2-core machine: rendering can take seconds
    context = chromium.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots_dir():
    from configs import PROJECT_ROOT

    path = PROJECT_ROOT / "test-artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
