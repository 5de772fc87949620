"""``startup.py``: Langchain-Chatchat 0.2's launcher flags over a small supervisor.

Start order is controller → model workers → OpenAI API server → backend → web UI, each only
once the one before answers; a service that dies is restarted (``supervisor``); Ctrl-C or
SIGTERM stops everything in reverse order.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from configs import Settings, load_settings
from server.auth.secret_files import with_secrets
from server.core.logging import setup_logging
from server.launcher import readiness, services
from server.launcher.services import ServiceContext
from server.launcher.supervisor import ServiceFailed, Supervisor
from server.launcher.thread_env import calm_spinning
from server.launcher.workers import WorkerManager

logger = logging.getLogger("startup")


class ShutdownRequested(Exception):
    """Raised in the launcher by SIGINT/SIGTERM to unwind into a clean stop."""


@dataclass(frozen=True)
class Plan:
    """Which services this launch starts."""

    controller: bool
    openai_api: bool
    local_models: list[str]
    remote_models: list[str]
    api: bool
    webui: bool

    @property
    def models(self) -> list[str]:
        return self.local_models + self.remote_models

    @property
    def empty(self) -> bool:
        return not (self.controller or self.openai_api or self.models or self.api or self.webui)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="startup.py",
        description=(
            "Start the Chatchat stack: FastChat controller, model workers, OpenAI API, backend, web UI."
        ),
    )
    add = parser.add_argument
    add("-a", "--all-webui", "--all", action="store_true", dest="all_webui", help="everything (default)")
    add("--all-api", action="store_true", help="everything but the web UI")
    add("--llm-api", action="store_true", help="controller, model workers and OpenAI API server")
    add("-o", "--openai-api", action="store_true", help="controller and OpenAI API server")
    add("-m", "--model-worker", action="store_true", help="model workers only")
    add(
        "-n",
        "--model-name",
        action="append",
        default=None,
        metavar="NAME",
        help="model(s) to serve (repeatable; default: default_llm)",
    )
    add(
        "-c",
        "--controller",
        metavar="ADDRESS",
        help="register workers with this controller (e.g. http://host:20001) instead of starting one",
    )
    add("--api", action="store_true", help="the backend API server")
    add("-p", "--api-worker", action="store_true", help="workers for remote (OpenAI-compatible) models")
    add("-w", "--webui", action="store_true", help="the Streamlit web UI")
    add("-q", "--quiet", action="store_true", help="less FastChat and access logging")
    add("-i", "--lite", action="store_true", help="no local model: serve remote models only")
    add(
        "--config",
        metavar="FILE",
        help="settings file (default: configs/settings.yaml or $CHATCHAT_SETTINGS_FILE)",
    )
    add("--print-config", action="store_true", help="print the effective configuration as JSON and exit")
    return parser


def make_plan(args: argparse.Namespace, settings: Settings) -> Plan:
    everything = args.all_webui or args.all_api
    nothing_chosen = not any(
        (everything, args.llm_api, args.openai_api, args.model_worker, args.api, args.api_worker, args.webui)
    )
    if nothing_chosen:
        everything = True
    llm_stack = everything or args.llm_api
    names = args.model_name or [settings.default_llm]
    unknown = [name for name in names if name not in settings.llm_models]
    if unknown:
        raise SystemExit(
            f"startup.py: unknown model(s) {', '.join(unknown)}; configured: {', '.join(settings.llm_models)}"
        )
    local = [n for n in names if settings.llm_models[n].is_local]
    remote = [n for n in names if not settings.llm_models[n].is_local]
    all_remote = [n for n, m in settings.llm_models.items() if not m.is_local]
    if args.api_worker or llm_stack:  # as in Chatchat: the full stacks start every remote model
        remote = list(dict.fromkeys(remote + all_remote))
    want_local = (llm_stack or args.model_worker) and not args.lite
    want_remote = llm_stack or args.model_worker or args.api_worker
    return Plan(
        controller=(llm_stack or args.openai_api) and not args.controller,
        openai_api=llm_stack or args.openai_api,
        local_models=local if want_local else [],
        remote_models=remote if want_remote else [],
        api=everything or args.api,
        webui=args.all_webui or (everything and not args.all_api) or args.webui,
    )


def banner(
    settings: Settings,
    plan: Plan,
    controller_address: str,
    states: dict[str, dict[str, Any]] | None = None,
    webui_ok: bool = True,
) -> str:
    lines = ["", "=" * 72, "Chatchat is running", "-" * 72]
    if plan.controller or plan.models:
        lines.append(f"  FastChat controller   {controller_address}")
    for name in plan.models:
        cfg = settings.llm_models[name]
        state = (states or {}).get(name, {})
        note = "" if state.get("status", "running") == "running" else f"  [{state['status']}: see its log]"
        for address in settings.worker_addresses(name):
            lines.append(f"  model worker          {address.url}  {name} ({cfg.engine}){note}")
    if plan.openai_api:
        lines.append(f"  OpenAI-compatible API {settings.openai_api.url}/v1")
    if plan.api:
        lines.append(f"  backend API           {settings.api.url}  (docs: {settings.api.url}/docs)")
    if plan.webui:
        note = "" if webui_ok else "  [failed: see its log]"
        lines.append(f"  web UI                {settings.webui.url}{note}")
    lines += [f"  logs                  {settings.log_dir}", "-" * 72, "Press Ctrl-C to stop.", "=" * 72, ""]
    return "\n".join(lines)


def warn_about_exposure(settings: Settings) -> None:
    """A service reachable from other machines is said out loud at every start."""
    for name, host in settings.exposed_services():
        message = f"{name} binds {host}: it is reachable from other machines"
        logger.warning(message)
        print(f"startup.py: warning: {message}", file=sys.stderr, flush=True)


def _raise_shutdown(signum: int, frame: FrameType | None) -> None:
    raise ShutdownRequested(signal.Signals(signum).name)


def run(plan: Plan, settings: Settings, controller_address: str, quiet: bool) -> int:
    ctx = ServiceContext(settings=settings, controller_address=controller_address, quiet=quiet)
    supervisor = Supervisor(ctx)
    workers = WorkerManager(supervisor, settings, controller_address)
    previous = {sig: signal.signal(sig, _raise_shutdown) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if plan.controller:
            supervisor.start(
                supervisor.service(
                    "controller",
                    services.run_controller,
                    readiness.controller_ready(controller_address),
                    controller_address,
                )
            )
        for name in plan.models:
            workers.start(name)
        if plan.openai_api:
            url = settings.openai_api.url
            supervisor.start(
                supervisor.service(
                    "openai_api",
                    services.run_openai_api,
                    readiness.openai_api_ready(url, workers.serving),
                    url,
                )
            )
        if plan.api:
            url = settings.api.url
            supervisor.start(
                supervisor.service(
                    "api",
                    services.run_api,
                    readiness.backend_ready(url),
                    url,
                    make_args=lambda: (supervisor.control_channel(),),  # a fresh pipe for every start
                )
            )
        if plan.webui:
            url = settings.webui.url
            supervisor.start(
                supervisor.service(
                    "webui", services.run_webui, readiness.webui_ready(url), url, essential=False
                )
            )
        if all(s.state == "failed" for s in supervisor.services):
            message = "nothing could be started: " + "; ".join(
                f"{s.name} exited with code {s.last_exit} (log: {s.log_path})" for s in supervisor.services
            )
            logger.error("%s", message)
            print(f"startup.py: {message}", file=sys.stderr, flush=True)
            return 1
        webui_ok = all(s.state != "failed" for s in supervisor.services if s.name == "webui")
        text = banner(settings, plan, controller_address, workers.states(), webui_ok)
        print(text, flush=True)
        logger.info("all services ready")
        supervisor.watch(workers.handle)
        return 0
    except ShutdownRequested as exc:
        logger.info("received %s: stopping", exc)
        return 0
    except ServiceFailed as exc:
        logger.error("%s", exc)
        print(f"startup.py: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        print(f"startup.py: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    if args.print_config:
        print(json.dumps(settings.public_dump(), indent=2, ensure_ascii=False))
        return 0
    plan = make_plan(args, settings)
    if plan.empty:
        print("startup.py: nothing to start", file=sys.stderr)
        return 2
    setup_logging("startup", settings.log_dir, settings.log_level, quiet=args.quiet)
    logger.info("OpenMP waits: %s", calm_spinning())  # inherited by every service spawned below
    settings = with_secrets(settings)  # generated once, shared by every process of the stack
    logger.info("database %s", settings.sqlalchemy_url)  # the log formatter masks its password
    warn_about_exposure(settings)
    controller_address = (args.controller or settings.controller.url).rstrip("/")
    return run(plan, settings, controller_address, args.quiet)
