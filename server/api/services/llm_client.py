"""The backend's only way to reach models: FastChat's OpenAI-compatible API server.

Failures are translated here, once, into the errors the routers expose: an unknown model
becomes a 404 that names the running ones, anything unreachable a 503, within seconds.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
import openai
from openai import AsyncOpenAI

from configs import Settings
from server.api.errors import BadRequest, NotFound, ServiceUnavailable
from server.core.request_id import current_headers
from server.llm.cluster_auth import cluster_headers
from server.llm.tool_calls import add_call_part

logger = logging.getLogger(__name__)

INVALID_MODEL = 40301  # FastChat's ErrorCode.INVALID_MODEL
OVERLOAD_RETRY_AFTER_S = 30  # a busy model's queue moves in seconds to minutes
T = TypeVar("T")


class LLMClient:
    def __init__(self, settings: Settings) -> None:
        secret = settings.auth.cluster_secret
        self._http = httpx.AsyncClient(
            trust_env=False,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            # The API server lets the backend through on the stack's secret, whatever the user's key.
            headers=cluster_headers(secret.get_secret_value()) if secret is not None else None,
        )
        self._api_root = settings.openai_api.url
        self._timeout_s = settings.request_timeout
        self._client = AsyncOpenAI(
            base_url=f"{settings.openai_api.url}/v1",
            api_key="EMPTY",
            timeout=httpx.Timeout(settings.request_timeout, connect=settings.connect_timeout),
            max_retries=0,  # a retry after a dead worker only doubles the wait
            http_client=self._http,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def list_models(self) -> list[str]:
        try:
            page = await self._client.models.list()
        except openai.APIError as exc:
            raise ServiceUnavailable(f"the OpenAI API server is unavailable: {exc}") from exc
        return [model.id for model in page.data]

    async def count_tokens(self, model: str, text: str) -> int:
        """Tokens in ``text`` by the model's own tokenizer (FastChat's token_check)."""
        response = await self._http.post(
            f"{self._api_root}/api/v1/token_check",
            json={"prompts": [{"model": model, "prompt": text, "max_tokens": 0}]},
            headers=current_headers(),
            timeout=10,
        )
        response.raise_for_status()
        return int(response.json()["prompts"][0]["tokenCount"])

    async def _translate(self, exc: openai.APIError, model: str) -> Exception:
        body = exc.body if isinstance(exc.body, dict) else {}
        if isinstance(exc, openai.BadRequestError) and body.get("code") == INVALID_MODEL:
            try:
                running = ", ".join(await self.list_models()) or "none"
            except ServiceUnavailable:
                running = "unknown"
            return NotFound(f"model {model!r} is not running; available models: {running}")
        if isinstance(exc, openai.BadRequestError):
            return BadRequest(str(body.get("message") or exc))
        if isinstance(exc, openai.APITimeoutError):
            # The worker queues requests beyond its batch in arrival order and sends nothing while a
            # request waits, so on an overloaded machine the wait, not a fault, runs out here.
            return ServiceUnavailable(
                f"model {model!r} sent nothing for {self._timeout_s:g} s (request_timeout): it is busy "
                "with other requests (or stuck); try again later, or add replicas or raise request_timeout",
                retry_after=OVERLOAD_RETRY_AFTER_S,
            )
        return ServiceUnavailable(f"model {model!r} is unavailable: {_describe(exc)}")

    async def _call(self, model: str, request: Awaitable[T]) -> T:
        """Await an OpenAI call, translating its failure into the error a client should see."""
        try:
            return await request
        except openai.APIError as exc:
            raise await self._translate(exc, model) from exc

    async def _pieces(
        self, stream: Any, model: str, piece: Callable[[Any], str | None]
    ) -> AsyncIterator[str]:
        """The text pieces of an open stream; a failure mid-stream raises the same errors."""
        try:
            async for chunk in stream:
                if not getattr(chunk, "choices", None):
                    error = (chunk.model_extra or {}).get("text")  # FastChat's error frame
                    if error:
                        raise ServiceUnavailable(f"model {model!r} failed: {error}")
                    continue
                text = piece(chunk.choices[0])
                if text:
                    yield text
        except openai.APIError as exc:
            raise await self._translate(exc, model) from exc
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"model {model!r} stream broke off: {_describe(exc)}") from exc
        finally:
            await stream.close()

    async def chat_stream(
        self, model: str, messages: list[dict[str, str]], temperature: float, max_tokens: int | None
    ) -> AsyncIterator[str]:
        """Open a streaming chat completion; errors before the first token raise here, not later."""
        stream = await self._call(
            model,
            self._client.chat.completions.create(
                model=model,
                messages=messages,
                temperature=temperature,
                max_tokens=max_tokens,
                stream=True,
                extra_headers=current_headers(),
            ),
        )
        return self._pieces(stream, model, lambda choice: choice.delta.content)

    async def chat_tools_stream(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        tool_choice: str | dict[str, Any],
        temperature: float,
        max_tokens: int | None,
    ) -> AsyncIterator[str | list[dict[str, Any]]]:
        """A streaming chat completion offering ``tools``: text pieces, then the list of calls (if any)."""
        stream = await self._call(
            model,
            self._client.chat.completions.create(
                model=model,
                messages=messages,
                tools=tools,
                tool_choice=tool_choice,
                temperature=temperature,
                max_tokens=max_tokens,
                stream=True,
                extra_headers=current_headers(),
            ),
        )
        return self._with_calls(stream, model)

    async def _with_calls(self, stream: Any, model: str) -> AsyncIterator[str | list[dict[str, Any]]]:
        calls: dict[int, dict[str, Any]] = {}

        def collect(choice: Any) -> str | None:
            for part in choice.delta.tool_calls or []:
                add_call_part(calls, part)
            return choice.delta.content

        async for piece in self._pieces(stream, model, collect):
            yield piece
        if calls:
            yield [calls[index] for index in sorted(calls)]

    async def chat(
        self, model: str, messages: list[dict[str, str]], temperature: float, max_tokens: int | None
    ) -> str:
        completion = await self._call(
            model,
            self._client.chat.completions.create(
                model=model,
                messages=messages,
                temperature=temperature,
                max_tokens=max_tokens,
                stream=False,
                extra_headers=current_headers(),
            ),
        )
        if not completion.choices:
            raise ServiceUnavailable(f"model {model!r} returned no answer")
        return completion.choices[0].message.content or ""

    async def completion_stream(
        self, model: str, prompt: str, temperature: float, max_tokens: int | None, echo: bool
    ) -> AsyncIterator[str]:
        """A plain completion (no chat template); errors before the first token raise here."""
        stream = await self._call(
            model,
            self._client.completions.create(
                model=model,
                prompt=prompt,
                temperature=temperature,
                max_tokens=max_tokens,
                echo=echo,
                stream=True,
                extra_headers=current_headers(),
            ),
        )
        return self._pieces(stream, model, lambda choice: choice.text)

    async def completion(
        self, model: str, prompt: str, temperature: float, max_tokens: int | None, echo: bool
    ) -> str:
        result = await self._call(
            model,
            self._client.completions.create(
                model=model,
                prompt=prompt,
                temperature=temperature,
                max_tokens=max_tokens,
                echo=echo,
                stream=False,
                extra_headers=current_headers(),
            ),
        )
        return result.choices[0].text if result.choices else ""


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"{exc} ({type(cause).__name__}: {cause})" if cause and str(cause) not in str(exc) else str(exc)
