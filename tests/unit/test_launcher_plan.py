"""Chatchat's startup.py flags map to the services they start."""

from __future__ import annotations

import pytest

from configs import Settings
from server.launcher.cli import build_parser, make_plan

SETTINGS = Settings(
    llm_models={"smollm2": {}, "qwen": {"engine": "transformers", "path": "Qwen/Qwen2.5-7B-Instruct"}},
)


def plan(*argv: str):
    return make_plan(build_parser().parse_args(list(argv)), SETTINGS)


@pytest.mark.parametrize(
    "argv, expected",
    [
        ((), (True, True, ["smollm2"], True, True)),
        (("-a",), (True, True, ["smollm2"], True, True)),
        (("--all",), (True, True, ["smollm2"], True, True)),
        (("--all-api",), (True, True, ["smollm2"], True, False)),
        (("--llm-api",), (True, True, ["smollm2"], False, False)),
        (("-o",), (True, True, [], False, False)),
        (("-m",), (False, False, ["smollm2"], False, False)),
        (("--api",), (False, False, [], True, False)),
        (("-w",), (False, False, [], False, True)),
        (("--api", "-w"), (False, False, [], True, True)),
        (("-a", "-n", "smollm2", "-n", "qwen"), (True, True, ["smollm2", "qwen"], True, True)),
        (("-a", "-c", "http://10.0.0.5:20001"), (False, True, ["smollm2"], True, True)),
        (("--llm-api", "-i"), (True, True, [], False, False)),
    ],
)
def test_flags_choose_services(argv: tuple[str, ...], expected: tuple) -> None:
    p = plan(*argv)
    assert (p.controller, p.openai_api, p.local_models, p.api, p.webui) == expected


def test_unknown_model_name_lists_the_configured_ones() -> None:
    with pytest.raises(SystemExit, match="unknown model.*gpt-9.*configured: smollm2, qwen"):
        plan("-n", "gpt-9")


def test_openmp_threads_spin_briefly_unless_the_user_chose_otherwise() -> None:
    from server.launcher.thread_env import calm_spinning

    assert calm_spinning({}) == {"GOMP_SPINCOUNT": "1000"}
    mine = {"GOMP_SPINCOUNT": "0"}
    assert calm_spinning(mine) == {"GOMP_SPINCOUNT": "0"} and mine == {"GOMP_SPINCOUNT": "0"}
