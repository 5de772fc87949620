"""Prometheus metrics of the backend: HTTP traffic (instrumentator) plus what chats cost.

Each app gets its own registry, so several apps in one process (tests) never collide.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_fastapi_instrumentator import Instrumentator

TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ChatMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.time_to_first_token = Histogram(
            "chat_time_to_first_token_seconds",
            "Time from a chat request to its first text.",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.generated_tokens = Counter(
            "chat_generated_tokens", "Tokens generated in chat answers.", ["model"], registry=registry
        )
        self.errors = Counter(
            "chat_errors",
            "Chat requests that failed after validation.",
            ["model", "status"],
            registry=registry,
        )


def instrument(app: FastAPI) -> ChatMetrics:
    """Serve ``/metrics`` on ``app`` and return the chat metrics to record into."""
    registry = CollectorRegistry()
    Instrumentator(registry=registry, excluded_handlers=["/metrics", "/health"]).instrument(app).expose(
        app, endpoint="/metrics", include_in_schema=True, tags=["server"]
    )
    return ChatMetrics(registry)
