"""Chatchat's ``/knowledge_base/*`` endpoints; every operation is the knowledge-base service's."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from sse_starlette import EventSourceResponse

from configs import Settings
from server.api.deps import CurrentUser, IngestJobsDep, KbAccessDep, SettingsDep, TempOwnersDep
from server.api.deps import KnowledgeBaseServiceDep as KbServiceDep
from server.api.deps import TempKnowledgeBasesDep as TempKbsDep
from server.api.errors import ApiError, BadRequest, http_status
from server.api.schemas.common import BaseResponse, OpenApiResponses, StageScores, kb_name_list
from server.api.schemas.knowledge_base import (
    CreateKnowledgeBaseRequest,
    DeleteDocsRequest,
    DocumentWithScore,
    EmbedModelInfo,
    FileInfo,
    KnowledgeBaseInfo,
    RecreateVectorStoreRequest,
    SearchDocsRequest,
    UpdateDocsByIdRequest,
    UpdateDocsRequest,
    UpdateInfoRequest,
    UploadLimits,
    parse_custom_docs,
)
from server.api.services.ingest_jobs import (
    RECREATE,
    TEMP_UPLOAD,
    UPDATE,
    UPLOAD,
    IngestJobs,
    job_answer,
)
from server.jobs.store import JobView
from server.knowledge_base.errors import FileNotInKnowledgeBase, PayloadTooLarge, is_limit_failure
from server.knowledge_base.ingest import SplitOptions
from server.knowledge_base.loaders import SUPPORTED_EXTENSIONS, is_supported, unsupported_reason
from server.knowledge_base.paths import check_kb_name, safe_relative_name
from server.knowledge_base.retrieval import SearchHit

router = APIRouter(prefix="/knowledge_base", tags=["knowledge base"])

ERRORS: OpenApiResponses = {
    400: {"model": BaseResponse, "description": "Invalid name or field"},
    404: {"model": BaseResponse, "description": "Unknown knowledge base or file"},
    409: {"model": BaseResponse, "description": "The knowledge base already exists"},
    413: {
        "model": BaseResponse,
        "description": "A file is larger than kb.max_upload_mb or a kb.limits limit",
    },
    422: {"model": BaseResponse, "description": "A field is invalid, or no uploaded file could be read"},
}
UPLOAD_READ = 1024 * 1024


def split_options(
    settings: Settings, size: int | None, overlap: int | None, title: bool | None
) -> SplitOptions:
    size = size or settings.kb.chunk_size
    overlap = settings.kb.chunk_overlap if overlap is None else overlap
    if overlap >= size:
        raise BadRequest(f"chunk_overlap ({overlap}) must be smaller than chunk_size ({size})")
    return SplitOptions(
        size, overlap, settings.kb.zh_title_enhance if title is None else title, settings.kb.limits
    )


_FILENAME_PARAM = re.compile(r';\s*filename\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', re.IGNORECASE)


def sent_file_name(upload: UploadFile) -> str:
    """The file name exactly as the client sent it.

    The multipart parser reduces ``C:\\dir\\a.txt`` to ``a.txt`` on its own (an old browser's
    habit); a name that carries a path must be refused, not quietly rewritten, so it is read back
    from the part's raw ``Content-Disposition``.
    """
    name = upload.filename or ""
    disposition = upload.headers.get("content-disposition", "")
    if match := _FILENAME_PARAM.search(disposition):
        raw = match.group(1).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1].replace("\\\\", "\\").replace('\\"', '"')
        try:  # headers arrive as latin-1; the parser decodes the name's bytes as UTF-8 when it can
            raw = raw.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        if raw != name:
            return raw
    return name


async def read_uploads(files: list[UploadFile], settings: Settings) -> list[tuple[str, bytes]]:
    """Check every name and size first, so a bad file refuses the request before anything is written."""
    limit = int(settings.kb.max_upload_mb * 1024 * 1024)
    names = [safe_relative_name(sent_file_name(f)) for f in files]
    if len(set(names)) != len(names):
        raise BadRequest("the same file name was uploaded twice in one request")
    out = []
    for name, upload in zip(names, files, strict=True):
        if upload.size is not None and upload.size > limit:
            raise PayloadTooLarge(
                f"{name} is larger than the upload limit of {settings.kb.max_upload_mb:g} MB"
            )
        parts, total = [], 0
        while chunk := await upload.read(UPLOAD_READ):
            total += len(chunk)
            if total > limit:
                raise PayloadTooLarge(
                    f"{name} is larger than the upload limit of {settings.kb.max_upload_mb:g} MB"
                )
            parts.append(chunk)
        out.append((name, b"".join(parts)))
    return out


EXISTS = "set override=true to replace it"
BACKGROUND = Form(description="Answer at once with the ingestion job's id instead of waiting for it")


def split_params(options: SplitOptions) -> dict[str, Any]:
    return {
        "chunk_size": options.chunk_size,
        "chunk_overlap": options.chunk_overlap,
        "zh_title_enhance": options.zh_title_enhance,
    }


def queued_answer(job: JobView) -> BaseResponse:
    """``background: true``: the job at once; follow it at ``/knowledge_base/jobs/{id}``."""
    return BaseResponse(msg=f"ingestion job {job.id} queued", data={"job_id": job.id, "job": job_answer(job)})


async def finished(jobs: IngestJobs, job_id: str, request: Request) -> dict[str, Any]:
    """Wait for the job (a client that leaves cancels it); its result, as the endpoint answers it."""
    return dict((await jobs.wait(job_id, request)).result)


def upload_answer(msg: str, data: dict[str, Any], failed: dict[str, str], total: int) -> Any:
    """Chatchat's answer: 200 listing failed_files while anything was stored.

    When no file of the request was stored because none could be read (or one was over a
    ``kb.limits`` limit) the request itself failed: 413 or 422, with the same ``failed_files``.
    """
    if not total or len(failed) < total or any(EXISTS in why for why in failed.values()):
        return BaseResponse(msg=msg, data=data)
    status = 413 if any(is_limit_failure(why) for why in failed.values()) else 422
    reasons = "; ".join(why if why.startswith(name) else f"{name}: {why}" for name, why in failed.items())
    return JSONResponse(
        BaseResponse(code=status, msg=f"no file was stored: {reasons}", data=data).model_dump(),
        status_code=status,
    )


@router.get("/list_knowledge_bases", response_model=BaseResponse)
async def list_knowledge_bases(
    service: KbServiceDep, principal: CurrentUser, access: KbAccessDep
) -> BaseResponse:
    """Names of the knowledge bases the caller may read (details: ``list_knowledge_base_details``)."""
    names = [kb.kb_name for kb in await service.list()]
    return BaseResponse(data=await access.filter_readable(principal, names))


@router.get("/list_knowledge_base_details", response_model=BaseResponse)
async def list_knowledge_base_details(
    service: KbServiceDep, principal: CurrentUser, access: KbAccessDep
) -> BaseResponse:
    readable = await access.readable(principal)
    return BaseResponse(
        data=[
            KnowledgeBaseInfo(**kb.public())
            for kb in await service.list()
            if readable is None or kb.kb_name in readable
        ]
    )


@router.get("/list_vector_store_types", response_model=BaseResponse)
async def list_vector_store_types(service: KbServiceDep) -> BaseResponse:
    """The vector stores a new knowledge base can use here, the default first."""
    default = service.check_vs_type(None)
    return BaseResponse(data=[default, *(t for t in service.vs_types if t != default)])


@router.get("/upload_limits", response_model=BaseResponse)
async def upload_limits(settings: SettingsDep) -> BaseResponse:
    """What an upload may be: the file types a loader reads and the largest file, for uploaders."""
    limits = UploadLimits(extensions=list(SUPPORTED_EXTENSIONS), max_upload_mb=settings.kb.max_upload_mb)
    return BaseResponse(data=limits.model_dump())


@router.get("/list_embed_models", response_model=BaseResponse)
async def list_embed_models(settings: SettingsDep) -> BaseResponse:
    """The embedding models a new knowledge base can use."""
    return BaseResponse(
        data=[
            EmbedModelInfo(name=name, engine=cfg.engine, default=name == settings.default_embed_model)
            for name, cfg in settings.embed_models.items()
        ]
    )


@router.post("/create_knowledge_base", response_model=BaseResponse, responses=ERRORS)
async def create_knowledge_base(
    request: CreateKnowledgeBaseRequest, service: KbServiceDep, principal: CurrentUser, access: KbAccessDep
) -> BaseResponse:
    """A new knowledge base, owned by the caller and private until shared."""
    kb = await service.create(
        request.knowledge_base_name,
        vs_type=request.vector_store_type,
        embed_model=request.embed_model,
        info=request.kb_info,
        hybrid=request.hybrid,
        rerank=request.rerank,
    )
    await access.created(principal, kb.kb_name)
    return BaseResponse(msg=f"created knowledge base {kb.kb_name}", data=KnowledgeBaseInfo(**kb.public()))


@router.post("/delete_knowledge_base", response_model=BaseResponse, responses=ERRORS)
async def delete_knowledge_base(
    service: KbServiceDep,
    principal: CurrentUser,
    access: KbAccessDep,
    body: Annotated[
        Any,
        Body(
            description='The name as a bare JSON string, or {"knowledge_base_name": ...}.',
            examples=["samples"],
        ),
    ],
) -> BaseResponse:
    name = body.get("knowledge_base_name") if isinstance(body, dict) else body
    if not isinstance(name, str):
        raise BadRequest(
            'body must be the knowledge base name as a JSON string or {"knowledge_base_name": "..."}'
        )
    await access.require_manage(principal, check_kb_name(name))
    await service.drop(check_kb_name(name))
    return BaseResponse(msg=f"deleted knowledge base {name}")


@router.post("/update_info", response_model=BaseResponse, responses=ERRORS)
async def update_info(
    request: UpdateInfoRequest, service: KbServiceDep, principal: CurrentUser, access: KbAccessDep
) -> BaseResponse:
    await access.require_write(principal, request.knowledge_base_name)
    kb = await service.update_info(
        request.knowledge_base_name, request.kb_info, request.hybrid, request.rerank
    )
    return BaseResponse(msg="knowledge base info updated", data=KnowledgeBaseInfo(**kb.public()))


@router.get("/list_files", response_model=BaseResponse, responses=ERRORS)
async def list_files(
    service: KbServiceDep,
    principal: CurrentUser,
    access: KbAccessDep,
    knowledge_base_name: Annotated[str, Query(examples=["samples"])],
    details: bool = False,
) -> BaseResponse:
    """File names in the knowledge base's database; ``details=true`` adds size, loader, chunk count, ..."""
    await access.require_read(principal, knowledge_base_name)
    files = [f for f in await service.list_files(knowledge_base_name) if f.in_db or details]
    if details:
        return BaseResponse(
            data=[FileInfo(**{k: v for k, v in vars(f).items() if k != "doc_ids"}) for f in files]
        )
    return BaseResponse(data=[f.file_name for f in files])


def document(hit: SearchHit, *, listing: bool = False) -> DocumentWithScore:
    return DocumentWithScore(
        id=hit.id,
        page_content=hit.text,
        metadata=hit.metadata,
        score=hit.score,
        relevance=None if listing else hit.relevance,
        scores=None if listing else StageScores(**hit.scores),
        knowledge_base_name=hit.kb,
    )


@router.post("/search_docs", response_model=list[DocumentWithScore], responses=ERRORS)
async def search_docs(
    request: SearchDocsRequest,
    service: KbServiceDep,
    settings: SettingsDep,
    principal: CurrentUser,
    access: KbAccessDep,
) -> list[DocumentWithScore]:
    """Chunks closest to the query, best first (Chatchat returns the bare list, not an envelope).

    ``knowledge_base_name`` may be a list: the KBs' results are merged by reciprocal rank and
    each chunk names its KB. Every chunk carries ``relevance`` (0..1, higher is better) and its
    score at each stage beside Chatchat's ``score`` (a distance).
    """
    names = kb_name_list(request.knowledge_base_name)
    for name in names:
        await access.require_read(principal, name)
        kb = await service.get(name)
        if request.embed_model and request.embed_model != kb.embed_model:
            raise BadRequest(
                f"knowledge base {kb.kb_name!r} was built with embedding model {kb.embed_model!r}, "
                f"not {request.embed_model!r}; recreate its vector store to change it"
            )
    if not request.query.strip():
        docs = []
        for name in names:
            hits = await service.list_docs(
                name, file_name=request.file_name or None, metadata=request.metadata or None
            )
            for hit in hits:
                hit.kb = name
            docs += [document(h, listing=True) for h in hits]
        return docs
    hits = await service.search_many(
        names,
        request.query,
        top_k=request.top_k or settings.kb.top_k,
        score_threshold=settings.kb.score_threshold
        if request.score_threshold is None
        else request.score_threshold,
        file_name=request.file_name or None,
        metadata=request.metadata or None,
        hybrid=request.hybrid,
        min_relevance=request.min_relevance,
        rerank=request.rerank,
        rerank_top_n=request.rerank_top_n,
        reranker=request.reranker,
    )
    return [document(h) for h in hits]


@router.post("/update_docs_by_id", response_model=BaseResponse, responses=ERRORS)
async def update_docs_by_id(
    request: UpdateDocsByIdRequest, service: KbServiceDep, principal: CurrentUser, access: KbAccessDep
) -> BaseResponse:
    await access.require_write(principal, request.knowledge_base_name)
    missing = await service.update_docs_by_id(
        request.knowledge_base_name, {k: v.model_dump() for k, v in request.docs.items()}
    )
    if missing and len(missing) == len(request.docs):
        raise FileNotInKnowledgeBase(
            f"no chunk with id {', '.join(missing)} in {request.knowledge_base_name!r}"
        )
    return BaseResponse(msg="chunks updated", data={"missing_ids": missing})


@router.post("/upload_docs", response_model=BaseResponse, responses=ERRORS)
async def upload_docs(
    service: KbServiceDep,
    settings: SettingsDep,
    principal: CurrentUser,
    access: KbAccessDep,
    files: Annotated[list[UploadFile], File(description="Files to add")],
    knowledge_base_name: Annotated[str, Form(examples=["samples"])],
    override: Annotated[bool, Form(description="Overwrite files that exist")] = False,
    to_vector_store: Annotated[bool, Form(description="Index the files after saving them")] = True,
    chunk_size: Annotated[int | None, Form(ge=10, le=100_000)] = None,
    chunk_overlap: Annotated[int | None, Form(ge=0, le=10_000)] = None,
    zh_title_enhance: Annotated[bool | None, Form()] = None,
    docs: Annotated[str, Form(description="JSON: {file name: [Document]} to index instead of parsing")] = "",
    not_refresh_vs_cache: Annotated[bool, Form()] = False,
    background: Annotated[bool, BACKGROUND] = False,
    *,
    jobs: IngestJobsDep,
    request: Request,
) -> BaseResponse:
    """Save files into the knowledge base and index them; unreadable files are listed in failed_files.

    Parsing and embedding run as an ingestion job; this waits for it unless ``background`` is
    true (then ``data.job_id``). A client that disconnects while waiting cancels the job.
    """
    await access.require_write(principal, knowledge_base_name)
    await service.get(knowledge_base_name)
    options = split_options(settings, chunk_size, chunk_overlap, zh_title_enhance)
    try:
        custom = parse_custom_docs(docs, settings.limits)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    uploads = await read_uploads(files, settings)
    failed: dict[str, str] = {}
    accepted = []
    for name, data in uploads:
        if name not in custom and not is_supported(name):
            failed[name] = unsupported_reason(name)
        else:
            accepted.append((name, data))
    if to_vector_store and accepted:  # a job: staged, indexed, then moved into the folder
        job = await jobs.submit(
            UPLOAD,
            knowledge_base_name,
            principal,
            {
                "split": split_params(options),
                "override": override,
                "custom_docs": custom,
                "uploads": [name for name, _ in accepted],
            },
            file_names=[name for name, _ in accepted],
            uploads=accepted,
            background=background,
        )
        if background:
            return queued_answer(job)
        failed.update((await finished(jobs, job.id, request)).get("failed_files", {}))
    elif not to_vector_store:
        for name, data in accepted:
            if not await service.save_upload(knowledge_base_name, name, data, override=override):
                failed[name] = f"{name} already exists; {EXISTS}"
    return upload_answer(
        "files uploaded" + (" and indexed" if to_vector_store else ""),
        {"failed_files": failed},
        failed,
        len(uploads),
    )


@router.post("/delete_docs", response_model=BaseResponse, responses=ERRORS)
async def delete_docs(
    request: DeleteDocsRequest, service: KbServiceDep, principal: CurrentUser, access: KbAccessDep
) -> BaseResponse:
    await access.require_write(principal, request.knowledge_base_name)
    for name in request.file_names:  # every path is checked (symlinks too) before anything is deleted
        service.paths.file_path(request.knowledge_base_name, name)
    failed = await service.delete_files(
        request.knowledge_base_name,
        request.file_names,
        delete_content=request.delete_content,
        refresh=not request.not_refresh_vs_cache,
    )
    return BaseResponse(msg="files deleted", data={"failed_files": failed})


@router.post("/update_docs", response_model=BaseResponse, responses=ERRORS)
async def update_docs(
    request: UpdateDocsRequest,
    service: KbServiceDep,
    settings: SettingsDep,
    principal: CurrentUser,
    access: KbAccessDep,
    jobs: IngestJobsDep,
    http: Request,
) -> BaseResponse:
    """Re-read files from the folder and replace their chunks (an ingestion job; see upload_docs)."""
    await access.require_write(principal, request.knowledge_base_name)
    await service.get(request.knowledge_base_name)
    for name in request.file_names:
        service.paths.file_path(request.knowledge_base_name, name)
    options = split_options(settings, request.chunk_size, request.chunk_overlap, request.zh_title_enhance)
    job = await jobs.submit(
        UPDATE,
        request.knowledge_base_name,
        principal,
        {
            "split": split_params(options),
            "file_names": request.file_names,
            "override_custom_docs": request.override_custom_docs,
            "custom_docs": {k: [d.model_dump() for d in v] for k, v in request.docs.items()},
        },
        file_names=list(dict.fromkeys(request.file_names)),
        background=request.background,
    )
    if request.background:
        return queued_answer(job)
    failed = (await finished(jobs, job.id, http)).get("failed_files", {})
    return BaseResponse(msg="files updated", data={"failed_files": failed})


@router.get("/download_doc", responses={200: {"content": {"application/octet-stream": {}}}, **ERRORS})
async def download_doc(
    service: KbServiceDep,
    principal: CurrentUser,
    access: KbAccessDep,
    knowledge_base_name: Annotated[str, Query(examples=["samples"])],
    file_name: Annotated[str, Query()],
    preview: Annotated[bool, Query(description="true: show inline; false: download as attachment")] = False,
) -> FileResponse:
    await access.require_read(principal, knowledge_base_name)
    await service.get(knowledge_base_name)
    path = service.paths.file_path(knowledge_base_name, file_name)
    if not path.is_file():
        raise FileNotInKnowledgeBase(f"{file_name} is not in knowledge base {knowledge_base_name!r}")
    return FileResponse(
        path, filename=path.name, content_disposition_type="inline" if preview else "attachment"
    )


@router.get("/download_temp_doc", responses={200: {"content": {"application/octet-stream": {}}}, **ERRORS})
async def download_temp_doc(
    temp_kbs: TempKbsDep,
    principal: CurrentUser,
    owners: TempOwnersDep,
    knowledge_id: Annotated[str, Query()],
    file_name: Annotated[str, Query()],
    preview: bool = False,
) -> FileResponse:
    await owners.require(principal, knowledge_id)
    path = await temp_kbs.file_path(knowledge_id, file_name)
    if not path.is_file():
        raise FileNotInKnowledgeBase(f"{file_name} is not in temporary knowledge {knowledge_id!r}")
    return FileResponse(
        path, filename=path.name, content_disposition_type="inline" if preview else "attachment"
    )


@router.post(
    "/recreate_vector_store", response_class=EventSourceResponse, response_model=None, responses=ERRORS
)
async def recreate_vector_store(
    request: RecreateVectorStoreRequest,
    service: KbServiceDep,
    settings: SettingsDep,
    principal: CurrentUser,
    access: KbAccessDep,
    jobs: IngestJobsDep,
) -> EventSourceResponse | JSONResponse:
    """Rebuild the index from the content folder; streams ``{"code", "msg", "total", "finished", "doc"}``.

    The rebuild is an ingestion job; a client that disconnects cancels it, unless it asked for
    ``background`` (then the answer is ``data.job_id`` at once).
    """
    await access.require_write(principal, request.knowledge_base_name)
    kb = await service.get(request.knowledge_base_name)
    if request.vs_type and request.vs_type != kb.vs_type:
        service.check_vs_type(request.vs_type)  # a rebuild may move the knowledge base to another store
    if request.embed_model:
        service.embeddings.check(request.embed_model)
    options = split_options(settings, request.chunk_size, request.chunk_overlap, request.zh_title_enhance)
    content = service.paths.content_dir(request.knowledge_base_name)
    names = (
        sorted(p.name for p in content.iterdir() if p.is_file() and not p.name.startswith("."))
        if content.is_dir()
        else []
    )
    job = await jobs.submit(
        RECREATE,
        request.knowledge_base_name,
        principal,
        {
            "split": split_params(options),
            "embed_model": request.embed_model or None,
            "allow_empty_kb": request.allow_empty_kb,
            "vs_type": request.vs_type or None,
        },
        file_names=names,
        background=request.background,
    )
    if request.background:
        return JSONResponse(queued_answer(job).model_dump())

    async def events() -> AsyncIterator[str]:
        sent, done = 0, False
        try:
            async for seen in jobs.watch(job.id):
                for event in seen.result.get("events", [])[sent:]:
                    yield json.dumps(event, ensure_ascii=False)
                    sent += 1
                if seen.state == "failed":
                    yield json.dumps(
                        {"code": seen.error_status or 500, "msg": seen.error}, ensure_ascii=False
                    )
                elif seen.state == "cancelled":
                    yield json.dumps({"code": 409, "msg": f"ingestion job {job.id} was cancelled"})
            done = True
        except ApiError as exc:
            yield json.dumps({"code": http_status(exc), "msg": exc.message}, ensure_ascii=False)
            done = True
        finally:
            if not done:  # the client left: the rebuild it started stops
                await jobs.abandon(job.id)

    return EventSourceResponse(events())


@router.post("/upload_temp_docs", response_model=BaseResponse, responses=ERRORS)
async def upload_temp_docs(
    temp_kbs: TempKbsDep,
    settings: SettingsDep,
    principal: CurrentUser,
    owners: TempOwnersDep,
    files: Annotated[list[UploadFile], File(description="Files to chat with")],
    prev_id: Annotated[str | None, Form(description="Add to this earlier upload")] = None,
    chunk_size: Annotated[int | None, Form(ge=10, le=100_000)] = None,
    chunk_overlap: Annotated[int | None, Form(ge=0, le=10_000)] = None,
    zh_title_enhance: Annotated[bool | None, Form()] = None,
    background: Annotated[bool, BACKGROUND] = False,
    *,
    jobs: IngestJobsDep,
    request: Request,
) -> BaseResponse:
    """Index files into a temporary knowledge base for ``/chat/file_chat``; returns its id.

    An ingestion job, like upload_docs: ``background: true`` answers with ``data.job_id``, and
    the job's ``result.id`` is the upload's id once it has run.
    """
    if prev_id:
        await owners.require(principal, prev_id)
    options = split_options(settings, chunk_size, chunk_overlap, zh_title_enhance)
    uploads = await read_uploads(files, settings)
    job = await jobs.submit(
        TEMP_UPLOAD,
        "",
        principal,
        {"split": split_params(options), "prev_id": prev_id or None, "uploads": [n for n, _ in uploads]},
        file_names=[name for name, _ in uploads],
        uploads=uploads,
        background=background,
    )
    if background:
        return queued_answer(job)
    result = await finished(jobs, job.id, request)
    kb_id, failed = result["id"], result.get("failed_files", {})
    return upload_answer("success", {"id": kb_id, "failed_files": failed}, failed, len(uploads))
