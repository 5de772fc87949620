from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter
from sse_starlette import EventSourceResponse

from server.api.deps import KnowledgeBaseServiceDep, LLMClientDep, PromptsDep, SettingsDep
from server.api.errors import ApiError, http_status
from server.api.schemas.common import BaseResponse
from server.api.schemas.other import CompletionRequest, EmbedTextsRequest

router = APIRouter(prefix="/other", tags=["other"])


@router.post(
    "/completion",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        404: {"model": BaseResponse},
        503: {"model": BaseResponse},
    },
)
async def completion(
    request: CompletionRequest, llm: LLMClientDep, prompts: PromptsDep, settings: SettingsDep
) -> EventSourceResponse:
    """Continue a text with a model; each event's data is a raw text chunk (one event if not streaming)."""
    prompt = prompts.render("completion", request.prompt_name, input=request.query)
    model = request.model_name or settings.default_llm
    if not request.stream:
        text = await llm.completion(model, prompt, request.temperature, request.max_tokens, request.echo)
        return EventSourceResponse(iter([text]))
    chunks = await llm.completion_stream(model, prompt, request.temperature, request.max_tokens, request.echo)

    async def events() -> AsyncIterator[str]:
        try:
            async for chunk in chunks:
                yield chunk
        except ApiError as exc:
            yield f"[error {http_status(exc)}] {exc.message}"

    return EventSourceResponse(events())


@router.post("/embed_texts", response_model=BaseResponse, responses={400: {"model": BaseResponse}})
async def embed_texts(
    request: EmbedTextsRequest, kb: KnowledgeBaseServiceDep, settings: SettingsDep
) -> BaseResponse:
    """L2-normalised vectors from the same local embedding models the knowledge bases use."""
    name = request.embed_model or settings.default_embed_model
    if request.to_query:
        vectors = [await kb.embeddings.aembed_query(name, text) for text in request.texts]
    else:
        vectors = list(await kb.embeddings.aembed_documents(name, request.texts))
    return BaseResponse(data=[[float(x) for x in vector] for vector in vectors])
