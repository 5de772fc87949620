"""FastChat's worker HTTP protocol for our async workers.

Same paths and payloads as ``fastchat.serve.base_model_worker`` (the controller and the API
server cannot tell the difference), but streaming is async end to end: a client that goes
away cancels its generation instead of leaving a decoder running, and the app object is
built per worker rather than shared through module globals.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from server.core.request_id import RequestIdMiddleware
from server.llm.worker_protocol import encode_frame


class AsyncWorker(Protocol):
    """What the app needs from a worker: FastChat's BaseModelWorker plus async generation."""

    model_names: list[str]
    context_len: int

    def stream(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...
    async def generate(self, params: dict[str, Any]) -> dict[str, Any]: ...
    def get_embeddings(self, params: dict[str, Any]) -> dict[str, Any]: ...
    def get_status(self) -> dict[str, Any]: ...
    def count_token(self, params: dict[str, Any]) -> dict[str, Any]: ...
    def get_conv_template(self) -> dict[str, Any]: ...
    def capabilities(self) -> dict[str, Any]: ...


class ReceivedPrompts:
    """The last prompts the worker was asked to complete, exactly as they arrived.

    What reaches the model (templates, history, tool results) is the API server's rendering, so
    this is the one place that shows it; off unless ``worker_keep_prompts`` asks for it.
    """

    def __init__(self, size: int) -> None:
        self._prompts: deque[str] = deque(maxlen=size)

    def add(self, params: dict[str, Any]) -> None:
        if "prompt" in params:
            self._prompts.append(str(params["prompt"]))

    def latest(self) -> list[str]:
        return list(self._prompts)


def create_worker_app(worker: AsyncWorker, keep_prompts: int = 0) -> FastAPI:
    app = FastAPI(title=f"model worker: {', '.join(worker.model_names)}")
    app.add_middleware(RequestIdMiddleware)
    received = ReceivedPrompts(keep_prompts) if keep_prompts else None

    async def generation_params(request: Request) -> dict[str, Any]:
        params: dict[str, Any] = await request.json()
        if received is not None:
            received.add(params)
        return params

    if received is not None:

        @app.post("/debug/received_prompts")
        async def received_prompts() -> dict[str, list[str]]:
            """The last prompts this worker received, oldest first."""
            return {"prompts": received.latest()}

    @app.post("/worker_generate_stream")
    async def generate_stream(request: Request) -> StreamingResponse:
        params = await generation_params(request)

        async def body() -> AsyncIterator[bytes]:
            async for frame in worker.stream(params):
                yield encode_frame(frame)

        return StreamingResponse(body(), media_type="application/octet-stream")

    @app.post("/worker_generate")
    async def generate(request: Request) -> JSONResponse:
        return JSONResponse(await worker.generate(await generation_params(request)))

    @app.post("/worker_get_embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        return JSONResponse(worker.get_embeddings(await request.json()))

    @app.post("/worker_get_status")
    async def status() -> dict[str, Any]:
        return worker.get_status()

    @app.post("/count_token")
    async def count_token(request: Request) -> dict[str, Any]:
        return worker.count_token(await request.json())

    @app.post("/worker_get_conv_template")
    async def conv_template() -> dict[str, Any]:
        return worker.get_conv_template()

    @app.post("/worker_get_capabilities")
    async def capabilities() -> dict[str, Any]:
        """What the API server's tool calling may rely on (FastChat's own workers lack this path)."""
        return worker.capabilities()

    @app.post("/model_details")
    async def model_details() -> dict[str, Any]:
        return {"context_length": worker.context_len}

    return app
