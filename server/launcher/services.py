"""What runs inside each child process of the launcher: one function per kind of service.

Every function takes the :class:`ServiceContext` the launcher built and blocks until its
server stops. They are module-level so ``multiprocessing`` (spawn) can pickle them.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import signal
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from configs import Settings
from server.core.logging import setup_logging

logger = logging.getLogger(__name__)

WEBUI_SCRIPT = Path(__file__).resolve().parents[2] / "webui" / "app.py"
GRACEFUL_SHUTDOWN_S = 3


@dataclass(frozen=True)
class ServiceContext:
    """What a child process needs: the settings and the launch options that affect it."""

    settings: Settings
    controller_address: str
    quiet: bool = False


ServiceTarget = Callable[..., None]


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this process if the launcher dies, so no service is ever orphaned."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def service_main(service: str, target: ServiceTarget, ctx: ServiceContext, *args: Any) -> None:
    """Common entry of every child: logging first, then the service, then a hard exit.

    The hard exit matters: FastChat's controller keeps a non-daemon heartbeat thread that
    would otherwise hold the process for 90 s after its server stopped.
    """
    _die_with_parent()
    settings = ctx.settings
    setup_logging(service, settings.log_dir, settings.log_level, quiet=ctx.quiet)
    code = 0
    try:
        target(ctx, *args)
    except KeyboardInterrupt:
        pass
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        logger.exception("%s stopped with an error", service)
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


def _serve(
    app: Any, host: str, port: int, *, access_log: bool = False, drain: float = GRACEFUL_SHUTDOWN_S
) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,  # keep our logging configuration
        access_log=access_log,
        timeout_graceful_shutdown=math.ceil(drain),
    )


# ---------------------------------------------------------------------------------------------
# FastChat services


def _cluster_secret(ctx: ServiceContext) -> str:
    from server.auth.secret_files import cluster_secret

    return cluster_secret(ctx.settings)


def _signed_worker(ctx: ServiceContext) -> str:
    """Before a worker is built (it registers at once): its calls to the controller carry the secret."""
    from fastchat.serve import base_model_worker

    from server.llm import cluster_auth

    secret = _cluster_secret(ctx)
    cluster_auth.sign_requests_of(base_model_worker, secret)
    return secret


def run_controller(ctx: ServiceContext) -> None:
    from server.llm import cluster_auth
    from server.llm.fastchat_compat import prepare_controller

    prepare_controller()
    from fastchat.serve import controller as module

    module.controller = module.Controller(ctx.settings.dispatch_method)
    address = ctx.settings.controller
    _serve(cluster_auth.prepare_controller(module.app, _cluster_secret(ctx)), address.host, address.port)


def run_openai_api(ctx: ServiceContext) -> None:
    from server.auth.api_server_auth import ApiServerAuth
    from server.core.browser_guards import add_browser_guards
    from server.llm import cluster_auth
    from server.llm.fastchat_compat import prepare_api_server
    from server.llm.tool_api import ModelToolSettings

    settings = ctx.settings
    tool_models = {
        name: ModelToolSettings(
            tool_call_format=cfg.tool_call_format,
            path=cfg.path if cfg.engine == "transformers" else None,
        )
        for name, cfg in settings.llm_models.items()
    }
    app = prepare_api_server(ctx.controller_address, tool_models=tool_models)
    secret = _cluster_secret(ctx)
    cluster_auth.prepare_api_server(secret)
    app.add_middleware(ApiServerAuth, settings=settings, cluster_secret=secret)
    add_browser_guards(
        app, allowed_hosts=settings.trusted_hosts(settings.openai_api), own_origins=settings.own_origins()
    )
    address = settings.openai_api
    _serve(app, address.host, address.port)


def run_model_worker(ctx: ServiceContext, model_name: str, replica: int = 0) -> None:
    """One replica of a model's worker, on that replica's own port."""
    settings = ctx.settings
    cfg = settings.llm_models[model_name]
    address = settings.worker_addresses(model_name)[replica]
    serve = {
        "llama.cpp": _serve_llama_cpp,
        "transformers": _serve_transformers,
        "openai": _serve_remote,
    }
    if cfg.engine not in serve:
        raise ValueError(f"model {model_name!r}: engine {cfg.engine!r} has no local worker")
    prepare_worker_heartbeat()
    serve[cfg.engine](ctx, model_name, address.host, address.port, address.url)


def prepare_worker_heartbeat() -> None:
    """Workers report to the controller every few seconds, so a dead one leaves it quickly."""
    from server.llm.failover import prepare_worker

    prepare_worker()


def _threads(ctx: ServiceContext, name: str) -> int:
    """The configured threads of one replica, or the machine's cores shared out between the replicas."""
    cfg = ctx.settings.llm_models[name]
    return cfg.n_threads or max(1, (os.cpu_count() or 1) // cfg.replicas)


def _serve_llama_cpp(ctx: ServiceContext, name: str, host: str, port: int, url: str) -> None:
    from server.llm.fastchat_compat import prepare_llama_worker
    from server.llm.model_locator import resolve_model_path

    prepare_llama_worker()
    from server.llm import cluster_auth
    from server.llm.llama_cpp_worker import LlamaCppWorker
    from server.llm.worker_app import create_worker_app

    cfg = ctx.settings.llm_models[name]
    secret = _signed_worker(ctx)
    worker = LlamaCppWorker(
        ctx.controller_address,
        url,
        uuid.uuid4().hex[:8],
        resolve_model_path(cfg.path),
        [name],
        cfg.limit_worker_concurrency,
        conv_template=cfg.conv_template,
        context_length=cfg.context_length,
        n_threads=_threads(ctx, name),
        n_gpu_layers=cfg.n_gpu_layers,
        parallel=cfg.parallel,
        stream_interval=ctx.settings.stream_interval,
    )
    try:
        app = cluster_auth.guard(
            create_worker_app(worker, keep_prompts=ctx.settings.worker_keep_prompts), secret
        )
        _serve(app, host, port, drain=ctx.settings.worker_drain_timeout)
    finally:
        worker.close()


def _serve_remote(ctx: ServiceContext, name: str, host: str, port: int, url: str) -> None:
    """A remote OpenAI-compatible model, served through a forwarding worker."""
    from server.llm.fastchat_compat import route_logging

    route_logging()
    from server.llm import cluster_auth
    from server.llm.remote_worker import RemoteOpenAIWorker
    from server.llm.worker_app import create_worker_app

    cfg = ctx.settings.llm_models[name]
    if not cfg.api_base_url:
        raise ValueError(f"model {name!r}: engine 'openai' needs api_base_url")
    secret = _signed_worker(ctx)
    worker = RemoteOpenAIWorker(
        ctx.controller_address,
        url,
        uuid.uuid4().hex[:8],
        [name],
        cfg.limit_worker_concurrency,
        base_url=cfg.api_base_url,
        api_key=cfg.api_key.get_secret_value() if cfg.api_key else None,
        remote_model=cfg.remote_model_name or name,
        context_length=cfg.context_length,
        timeout=ctx.settings.request_timeout,
    )
    app = cluster_auth.guard(create_worker_app(worker, keep_prompts=ctx.settings.worker_keep_prompts), secret)
    _serve(app, host, port, drain=ctx.settings.worker_drain_timeout)


def _serve_transformers(ctx: ServiceContext, name: str, host: str, port: int, url: str) -> None:
    """FastChat's own ``ModelWorker``: the path for HF models on a GPU."""
    from server.llm.fastchat_compat import conv_template_for, prepare_transformers_worker
    from server.llm.model_locator import resolve_model_path

    prepare_transformers_worker()
    from fastchat.serve import base_model_worker
    from fastchat.serve.model_worker import ModelWorker
    from fastchat.utils import str_to_torch_dtype

    from server.llm import cluster_auth

    cfg = ctx.settings.llm_models[name]
    model_path = resolve_model_path(cfg.path, allow_hub=True)
    secret = _signed_worker(ctx)
    ModelWorker(
        ctx.controller_address,
        url,
        uuid.uuid4().hex[:8],
        model_path,
        [name],
        cfg.limit_worker_concurrency,
        no_register=False,
        device=cfg.device,
        num_gpus=cfg.num_gpus,
        max_gpu_memory=cfg.max_gpu_memory,
        dtype=str_to_torch_dtype(cfg.dtype if cfg.dtype != "auto" else None),
        load_8bit=cfg.load_8bit,
        conv_template=conv_template_for(model_path, cfg.conv_template),
    )
    _serve(
        cluster_auth.guard(base_model_worker.app, secret), host, port, drain=ctx.settings.worker_drain_timeout
    )


# ---------------------------------------------------------------------------------------------
# Our services


def run_api(ctx: ServiceContext, control: Connection | None = None) -> None:
    from server.api.app import create_app
    from server.launcher.control import LauncherControl

    address = ctx.settings.api
    launcher = LauncherControl(control, ctx.settings.startup_timeout + 30) if control is not None else None
    _serve(create_app(ctx.settings, launcher), address.host, address.port, access_log=not ctx.quiet)


def _route_streamlit_logging() -> None:
    """Streamlit gives each of its loggers a console handler of its own; give them ours."""
    import streamlit.logger as st_logger

    def use_root_handlers(target: logging.Logger) -> None:
        for handler in list(target.handlers):
            target.removeHandler(handler)
        for handler in logging.getLogger().handlers:
            target.addHandler(handler)

    st_logger.setup_formatter = use_root_handlers
    st_logger.update_formatter()


def run_webui(ctx: ServiceContext) -> None:
    from streamlit.web import bootstrap

    from server.core.browser_guards import guard_streamlit_hosts

    guard_streamlit_hosts(ctx.settings.trusted_hosts(ctx.settings.webui))
    _route_streamlit_logging()
    address = ctx.settings.webui
    flags: dict[str, Any] = {
        "server.address": address.host,
        "server.port": address.port,
        "server.headless": True,
        "server.fileWatcherType": "none",
        "server.runOnSave": False,
        "browser.gatherUsageStats": False,
        "global.developmentMode": False,
        "client.toolbarMode": "minimal",
        # The uploaders say (and enforce) the backend's real limit, not Streamlit's 200 MB.
        "server.maxUploadSize": max(1, math.ceil(ctx.settings.kb.max_upload_mb)),
        "logger.level": ctx.settings.log_level.lower(),
    }
    bootstrap.load_config_options(flags)
    _route_streamlit_logging()
    bootstrap.run(str(WEBUI_SCRIPT), False, ["--api-url", ctx.settings.api.url], flags)
