"""Dispatch between the workers of one model: failed and excluded workers are skipped."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
from fastchat.serve.controller import DispatchMethod, WorkerInfo

from server.launcher.supervisor import backoff
from server.llm.failover import pick_worker, split_worker_url


def controller(method: DispatchMethod, **queues: int) -> SimpleNamespace:
    info = {
        f"http://w{name}": WorkerInfo(["smollm2"], 1, queue, True, "0", False)
        for name, queue in queues.items()
    }
    info["http://other"] = WorkerInfo(["qwen"], 1, 0, True, "0", False)
    return SimpleNamespace(worker_info=info, dispatch_method=method)


def test_shortest_queue_skips_failed_workers_and_counts_what_it_sends() -> None:
    c = controller(DispatchMethod.SHORTEST_QUEUE, a=0, b=5)
    assert pick_worker(c, "smollm2", set(), failed={"http://wa"}) == "http://wb"
    assert c.worker_info["http://wb"].queue_length == 6
    picks = [pick_worker(c, "smollm2", set(), set()) for _ in range(6)]
    assert picks == ["http://wa"] * 6  # a's queue catches up with b's
    assert pick_worker(c, "smollm2", set(), set()) in {"http://wa", "http://wb"}


@pytest.mark.parametrize("method", [DispatchMethod.SHORTEST_QUEUE, DispatchMethod.LOTTERY])
def test_an_excluded_worker_is_never_picked_and_an_unknown_model_gets_none(method: DispatchMethod) -> None:
    c = controller(method, a=0, b=0)
    assert {pick_worker(c, "smollm2", {"http://wa"}, set()) for _ in range(20)} == {"http://wb"}
    assert pick_worker(c, "smollm2", {"http://wa", "http://wb"}, set()) == ""
    assert pick_worker(c, "missing", set(), set()) == ""


def test_lottery_spreads_over_healthy_workers_only() -> None:
    c = controller(DispatchMethod.LOTTERY, a=0, b=0, c=0)
    picks = Counter(pick_worker(c, "smollm2", set(), {"http://wc"}) for _ in range(200))
    assert set(picks) == {"http://wa", "http://wb"} and min(picks.values()) > 50


def test_when_every_worker_failed_one_is_still_tried() -> None:
    c = controller(DispatchMethod.SHORTEST_QUEUE, a=0)
    assert pick_worker(c, "smollm2", set(), {"http://wa"}) == "http://wa"


def test_worker_urls_are_told_apart_from_controller_urls() -> None:
    assert split_worker_url("http://h:1/worker_generate_stream") == ("http://h:1", "/worker_generate_stream")
    assert split_worker_url("http://h:1/worker_generate") == ("http://h:1", "/worker_generate")
    assert split_worker_url("http://h:1/count_token") == ("http://h:1", "/count_token")
    assert split_worker_url("http://h:1/list_models") is None


def test_restart_backoff_doubles_up_to_a_minute() -> None:
    assert [backoff(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
