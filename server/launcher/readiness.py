"""Readiness checks: a service is ready when it answers a real request, never after a fixed sleep."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import httpx

Probe = Callable[[httpx.Client], bool]


def _ok(response: httpx.Response) -> bool:
    return response.status_code == 200


def controller_ready(controller_url: str) -> Probe:
    def probe(client: httpx.Client) -> bool:
        return _ok(client.post(f"{controller_url}/list_models"))

    return probe


def worker_ready(worker_url: str, controller_url: str, model_name: str) -> Probe:
    """The worker answers *and* the controller knows it serves the model."""

    def probe(client: httpx.Client) -> bool:
        if not _ok(client.post(f"{worker_url}/worker_get_status")):
            return False
        response = client.post(f"{controller_url}/list_models")
        return _ok(response) and model_name in response.json().get("models", [])

    return probe


def openai_api_ready(api_url: str, model_names: Iterable[str] | Callable[[], Iterable[str]]) -> Probe:
    """``/v1/models`` lists the models (a callable: the ones whose workers serve at probe time)."""

    def probe(client: httpx.Client) -> bool:
        response = client.get(f"{api_url}/v1/models")
        if not _ok(response):
            return False
        served = {card["id"] for card in response.json().get("data", [])}
        expected = model_names() if callable(model_names) else model_names
        return set(expected) <= served

    return probe


def backend_ready(api_url: str) -> Probe:
    def probe(client: httpx.Client) -> bool:
        return _ok(client.get(f"{api_url}/health"))

    return probe


def webui_ready(webui_url: str) -> Probe:
    def probe(client: httpx.Client) -> bool:
        response = client.get(f"{webui_url}/_stcore/health")
        return _ok(response) and response.text.strip() == "ok"

    return probe
