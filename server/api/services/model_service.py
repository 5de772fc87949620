"""Which models run, what is configured, and switching between them through the launcher."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from configs import LLMModelSettings, Settings
from server.api.errors import BadRequest, NotFound, ServiceUnavailable
from server.api.services.llm_client import LLMClient
from server.llm.model_locator import ModelNotFoundError, resolve_model_path


class LauncherReply(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def message(self) -> str: ...
    @property
    def running(self) -> tuple[str, ...]: ...
    @property
    def models(self) -> dict[str, dict[str, Any]]: ...


class ModelLauncher(Protocol):
    """What model switching needs from the launcher that started us (``server.launcher.control``).

    The launcher sits above the backend and hands its end of the channel in, so the backend
    names only this shape and never imports the launcher.
    """

    async def call(self, op: Literal["start", "stop", "status"], model: str = "") -> LauncherReply: ...


def model_path_exists(config: LLMModelSettings) -> bool:
    """Whether a local model's weights are on disk, so it can be started (Chatchat's flag)."""
    if not config.is_local:
        return False
    try:
        resolve_model_path(config.path)
    except ModelNotFoundError:
        return False
    return True


def public_config(config: LLMModelSettings) -> dict[str, Any]:
    """A model's settings without its secret, with Chatchat's ``online_api`` and ``model_path_exists``.

    Chatchat's web UI offers a configured, stopped local model for switching only when
    ``model_path_exists`` is true, and tells local from remote models by ``online_api``.
    """
    data = config.model_dump(mode="json", exclude={"api_key"})
    data["online_api"] = not config.is_local
    if config.is_local:
        data["model_path_exists"] = model_path_exists(config)
    return data


class ModelService:
    def __init__(self, settings: Settings, llm: LLMClient, launcher: ModelLauncher | None) -> None:
        self._settings = settings
        self._llm = llm
        self._launcher = launcher

    def _config(self, name: str) -> LLMModelSettings:
        if name not in self._settings.llm_models:
            raise NotFound(
                f"model {name!r} is not configured; configured: {', '.join(self._settings.llm_models)}"
            )
        return self._settings.llm_models[name]

    def config(self, name: str) -> dict[str, Any]:
        return public_config(self._config(name))

    def configured(self, types: list[str]) -> dict[str, dict[str, Any]]:
        groups: dict[str, dict[str, Any]] = {"local": {}, "online": {}}
        for name, config in self._settings.llm_models.items():
            groups["local" if config.is_local else "online"][name] = public_config(config)
        return {kind: models for kind, models in groups.items() if kind in types}

    async def running(self) -> dict[str, dict[str, Any]]:
        """Models served now (also ones registered from other hosts), and the launcher's ones that restart.

        Each entry is the model's configuration plus ``status`` (running, restarting, starting or
        failed) and, for the launcher's own workers, their replica counts.
        """
        names = await self._llm.list_models()
        states: dict[str, dict[str, Any]] = {}
        if self._launcher is not None:
            try:
                states = dict((await self._launcher.call("status")).models)
            except (TimeoutError, OSError, EOFError, RuntimeError):
                states = {}  # the answer still lists what the API server serves
        result: dict[str, dict[str, Any]] = {}
        for name in dict.fromkeys([*names, *states]):
            config = (
                public_config(self._settings.llm_models[name]) if name in self._settings.llm_models else {}
            )
            state = states.get(name, {"status": "running"})
            if name in names and state.get("status") == "starting":
                state = {**state, "status": "running"}
            result[name] = {**config, **state}
        return result

    def _require_launcher(self) -> ModelLauncher:
        if self._launcher is None:
            raise ServiceUnavailable("model management needs the backend to be started by startup.py")
        return self._launcher

    async def stop(self, name: str) -> str:
        self._config(name)
        reply = await self._require_launcher().call("stop", name)
        if not reply.ok:
            raise BadRequest(reply.message)
        return reply.message

    async def change(self, old: str, new: str) -> str:
        """Start ``new``, then stop ``old``; ``old`` finishes the answers it is streaming first."""
        self._config(new)
        if old:
            self._config(old)
        launcher = self._require_launcher()
        reply = await launcher.call("start", new)
        if not reply.ok:
            raise ServiceUnavailable(f"could not start {new!r}: {reply.message}")
        if old and old != new and old in reply.running:
            stopped = await launcher.call("stop", old)
            if not stopped.ok:
                raise BadRequest(stopped.message)
        return f"{new} is serving" + (f"; {old} stopped" if old and old != new else "")
