"""The web UI's only way to the backend: typed calls over HTTP, errors the pages can show as they are.

Every page goes through :class:`ApiClient`, so the UI never imports server code and works against
a backend on another host. Failures come in two kinds the pages treat differently: the backend
answered with an error (:class:`BackendError`, carrying its ``msg``), or it could not be reached in
time (:class:`BackendUnreachable`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
from httpx_sse import SSEError, connect_sse

# Backend paths whose presence switches a part of the UI on.
CHAT_MODE_PATHS: dict[str, str] = {
    "llm_chat": "/chat/chat",
    "knowledge_base_chat": "/chat/knowledge_base_chat",
    "file_chat": "/chat/file_chat",
    "search_engine_chat": "/chat/search_engine_chat",
    "agent_chat": "/chat/agent_chat",
}
FEEDBACK_PATH = "/chat/feedback"
CONVERSATIONS_PATH = "/conversations"
RUNNING_MODELS_PATH = "/llm_model/list_running_models"
KB_LIST_PATH = "/knowledge_base/list_knowledge_bases"
KB_ACCESS_PATH = "/knowledge_base/access"
UPLOAD_LIMITS_PATH = "/knowledge_base/upload_limits"
AUTH_STATUS_PATH = "/auth/status"
USERS_PATH = "/users"
API_KEYS_PATH = "/auth/api_keys"
MCP_CONNECTIONS_PATH = "/mcp/connections"
AGENT_TOOLS_PATH = "/agent/tools"
RETRIEVAL_TEST_PATH = "/knowledge_base/retrieval_test"


class ApiClientError(Exception):
    """Anything that kept a backend call from succeeding; ``str()`` is fit to show a user."""


class BackendUnreachable(ApiClientError):
    """No answer: the backend is down, refused the connection, or took longer than the timeout."""

    def __init__(self, base_url: str, cause: Exception) -> None:
        reason = "timed out" if isinstance(cause, httpx.TimeoutException) else "is not reachable"
        super().__init__(f"The backend at {base_url} {reason} ({type(cause).__name__}).")
        self.base_url = base_url


class BackendError(ApiClientError):
    """The backend answered with an error status; ``message`` is its own ``msg``."""

    def __init__(self, status: int, message: str, path: str, kind: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.path = path
        self.kind = kind  # the backend's error code (``not_found`` ...), "" when it sent none

    @property
    def signed_out(self) -> bool:
        """The token was refused (expired, revoked, signed out elsewhere): the user must sign in again."""
        return self.status == 401


@dataclass(frozen=True)
class Download:
    """A file the backend sent as an attachment."""

    filename: str
    content: bytes
    media_type: str


def _error_message(response: httpx.Response) -> str:
    """The backend's ``msg`` (Chatchat envelope) or FastAPI's ``detail``; else the status text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("msg", "detail", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if value:
                return json.dumps(value, ensure_ascii=False)
    text = response.text.strip()
    return text[:500] if text else f"HTTP {response.status_code} {response.reason_phrase}"


def _error_kind(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    kind = body.get("error") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) else ""


def _source_names(chunk: dict[str, Any]) -> set[str]:
    """The file a chunk came from, as stored and as a bare name (``source`` may be a path)."""
    source = str((chunk.get("metadata") or {}).get("source") or "")
    return {source, source.replace("\\", "/").rsplit("/", 1)[-1]}


def _filename(response: httpx.Response, fallback: str) -> str:
    """The attachment's name from Content-Disposition (RFC 6266 ``filename*`` preferred)."""
    names: dict[str, str] = {}
    for part in response.headers.get("content-disposition", "").split(";"):
        key, _, value = part.strip().partition("=")
        names[key.lower()] = value.strip('"')
    if names.get("filename*", "").lower().startswith("utf-8''"):
        return unquote(names["filename*"][7:]) or fallback
    return names.get("filename") or fallback


class ApiClient:
    """A synchronous client (Streamlit scripts are synchronous) bound to one backend URL.

    One pooled HTTP connection set is shared by every browser session; :meth:`as_user` gives a
    session its own view that sends that user's token as ``Authorization: Bearer`` on every call.
    """

    def __init__(self, base_url: str, timeout: float = 30.0, stream_timeout: float = 300.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = httpx.Timeout(timeout, connect=5.0)
        self._stream_timeout = httpx.Timeout(stream_timeout, connect=5.0)
        self._http = httpx.Client(base_url=self.base_url, timeout=self._timeout, trust_env=False)
        self._auth: dict[str, str] = {}

    def close(self) -> None:
        self._http.close()

    def as_user(self, token: str | None) -> ApiClient:
        """The same connections, calling as the holder of ``token`` (None: anonymously)."""
        view = copy.copy(self)
        view._auth = {"Authorization": f"Bearer {token}"} if token else {}
        return view

    @property
    def token(self) -> str | None:
        value = self._auth.get("Authorization", "")
        return value.removeprefix("Bearer ") or None

    # ---- plumbing ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._auth:
            kwargs["headers"] = {**self._auth, **(kwargs.get("headers") or {})}
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise BackendUnreachable(self.base_url, exc) from exc
        if response.status_code >= 400:
            raise BackendError(response.status_code, _error_message(response), path, _error_kind(response))
        return response

    def _envelope(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A Chatchat ``{code, msg, data}`` answer; an envelope with an error code is an error too."""
        body = self._send(method, path, **kwargs).json()
        if not isinstance(body, dict) or "code" not in body:
            return {"code": 200, "msg": "success", "data": body}
        code = body.get("code")
        if isinstance(code, int) and code >= 400:
            raise BackendError(code, str(body.get("msg") or f"error {code}"), path)
        return body

    def _data(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._envelope(method, path, **kwargs).get("data")

    def stream_events(
        self, path: str, body: dict[str, Any], *, error_events_raise: bool = True
    ) -> Iterator[dict[str, Any]]:
        """POST ``body`` and yield each Server-Sent Event's JSON object as it arrives.

        An error event the backend sends after the stream started (``{"code": 5xx, "msg": ...}``)
        becomes a :class:`BackendError`, so a half answer never passes for a whole one; progress
        streams, where one failed item is not the end, pass ``error_events_raise=False``.
        """
        try:
            with connect_sse(
                self._http, "POST", path, json=body, timeout=self._stream_timeout, headers=self._auth
            ) as source:
                response = source.response
                if response.status_code >= 400:
                    response.read()
                    raise BackendError(
                        response.status_code, _error_message(response), path, _error_kind(response)
                    )
                for event in source.iter_sse():
                    if not event.data:
                        continue
                    payload = json.loads(event.data)
                    failed = (
                        isinstance(payload, dict)
                        and isinstance(payload.get("code"), int)
                        and payload["code"] >= 400
                    )
                    if failed and error_events_raise:
                        raise BackendError(payload["code"], str(payload.get("msg", "")), path)
                    yield payload
        except httpx.TransportError as exc:
            raise BackendUnreachable(self.base_url, exc) from exc
        except SSEError as exc:
            raise BackendError(502, f"{path} did not answer with an event stream: {exc}", path) from exc

    # ---- service ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._send("GET", "/health", timeout=httpx.Timeout(5.0)).json()

    def paths(self) -> set[str]:
        """The backend's routes, from its OpenAPI document: what decides which UI parts exist."""
        timeout = min(self._timeout.read or 10.0, 10.0)
        return set(self._send("GET", "/openapi.json", timeout=timeout).json().get("paths", {}))

    def server_configs(self) -> dict[str, Any]:
        return self._data("POST", "/server/configs", json={})

    def prompt_template(self, chat_type: str, name: str) -> str:
        return self._data("POST", "/server/get_prompt_template", json={"type": chat_type, "name": name})

    def search_engines(self) -> list[str]:
        return list(self._data("POST", "/server/list_search_engines", json={}))

    # ---- accounts ---------------------------------------------------------------------------

    def auth_status(self) -> dict[str, Any]:
        """``auth_enabled``, ``signup_enabled``, ``needs_admin`` (no account yet)."""
        return self._send("GET", AUTH_STATUS_PATH).json()

    def login(self, email: str, password: str) -> str:
        """A login token (OAuth2 password flow)."""
        response = self._send("POST", "/auth/token", data={"username": email, "password": password})
        return str(response.json()["access_token"])

    def signup(self, email: str, password: str, display_name: str = "") -> dict[str, Any]:
        body = {"email": email, "password": password, "display_name": display_name}
        return self._send("POST", "/auth/signup", json=body).json()

    def me(self) -> dict[str, Any]:
        return self._send("GET", "/auth/me").json()

    def logout(self) -> None:
        self._send("POST", "/auth/logout")

    def change_password(self, current: str, new: str) -> str:
        body = {"current_password": current, "new_password": new}
        return str(self._send("POST", "/auth/password", json=body).json()["access_token"])

    def api_keys(self) -> list[dict[str, Any]]:
        return list(self._send("GET", API_KEYS_PATH).json())

    def create_api_key(self, name: str) -> dict[str, Any]:
        return self._send("POST", API_KEYS_PATH, json={"name": name}).json()

    def revoke_api_key(self, key_id: int) -> None:
        self._send("DELETE", f"{API_KEYS_PATH}/{key_id}")

    def users(self) -> list[dict[str, Any]]:
        return list(self._send("GET", USERS_PATH).json())

    def update_user(self, user_id: int, **changes: Any) -> dict[str, Any]:
        return self._send("PATCH", f"{USERS_PATH}/{user_id}", json=changes).json()

    def delete_user(self, user_id: int) -> None:
        self._send("DELETE", f"{USERS_PATH}/{user_id}")

    def kb_access(self, name: str) -> dict[str, Any]:
        return self._send("GET", KB_ACCESS_PATH, params={"knowledge_base_name": name}).json()

    def set_kb_access(self, name: str, visibility: str, shares: list[dict[str, str]]) -> dict[str, Any]:
        body = {"knowledge_base_name": name, "visibility": visibility, "shares": shares}
        return self._send("POST", KB_ACCESS_PATH, json=body).json()

    # ---- chat -------------------------------------------------------------------------------

    def chat(self, mode: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return self.stream_events(CHAT_MODE_PATHS[mode], {**body, "stream": True})

    def feedback(self, message_id: str, score: int, reason: str = "") -> None:
        self._data("POST", FEEDBACK_PATH, json={"message_id": message_id, "score": score, "reason": reason})

    # ---- conversations ----------------------------------------------------------------------

    def conversations(self, search: str = "") -> list[dict[str, Any]]:
        """Most recently active first; ``search`` is matched by the backend over names and messages."""
        params = {"q": search} if search else None
        return list(self._data("GET", CONVERSATIONS_PATH, params=params))

    def truncate_conversation(self, conversation_id: str, message_id: str) -> int:
        """Delete one stored exchange and all later ones; returns how many went."""
        data = self._data("DELETE", f"{CONVERSATIONS_PATH}/{conversation_id}/messages/{message_id}")
        return int((data or {}).get("deleted", 0))

    def create_conversation(self, name: str | None = None, chat_type: str = "llm_chat") -> dict[str, Any]:
        body: dict[str, Any] = {"chat_type": chat_type}
        if name:
            body["name"] = name
        return self._data("POST", CONVERSATIONS_PATH, json=body)

    def rename_conversation(self, conversation_id: str, name: str) -> dict[str, Any]:
        return self._data("PATCH", f"{CONVERSATIONS_PATH}/{conversation_id}", json={"name": name})

    def save_conversation_settings(self, conversation_id: str, settings: dict[str, Any]) -> dict[str, Any]:
        return self._data("PATCH", f"{CONVERSATIONS_PATH}/{conversation_id}", json={"settings": settings})

    def delete_conversation(self, conversation_id: str) -> None:
        self._data("DELETE", f"{CONVERSATIONS_PATH}/{conversation_id}")

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        return list(self._data("GET", f"{CONVERSATIONS_PATH}/{conversation_id}/messages"))

    def export_conversation(self, conversation_id: str) -> Download:
        response = self._send("GET", f"{CONVERSATIONS_PATH}/{conversation_id}/export")
        return Download(
            _filename(response, f"conversation-{conversation_id}.md"),
            response.content,
            response.headers.get("content-type", "text/markdown"),
        )

    # ---- models -----------------------------------------------------------------------------

    def running_models(self) -> dict[str, dict[str, Any]]:
        return dict(self._data("POST", RUNNING_MODELS_PATH, json={}))

    def config_models(self) -> dict[str, dict[str, Any]]:
        return dict(self._data("POST", "/llm_model/list_config_models", json={}))

    def change_model(self, model_name: str, new_model_name: str, timeout: float = 600.0) -> str:
        """Returns once the new model serves (the backend waits for it); the backend's message."""
        return self._envelope(
            "POST",
            "/llm_model/change",
            json={"model_name": model_name, "new_model_name": new_model_name},
            timeout=httpx.Timeout(timeout, connect=5.0),
        ).get("msg", "")

    def stop_model(self, model_name: str) -> str:
        return self._envelope("POST", "/llm_model/stop", json={"model_name": model_name}).get("msg", "")

    # ---- knowledge bases --------------------------------------------------------------------

    def knowledge_bases(self) -> list[Any]:
        return list(self._data("GET", KB_LIST_PATH))

    def create_knowledge_base(
        self, name: str, vector_store_type: str, embed_model: str, kb_info: str = ""
    ) -> Any:
        body = {
            "knowledge_base_name": name,
            "vector_store_type": vector_store_type,
            "embed_model": embed_model,
        }
        if kb_info:
            body["kb_info"] = kb_info
        return self._data("POST", "/knowledge_base/create_knowledge_base", json=body)

    def delete_knowledge_base(self, name: str) -> Any:
        return self._data("POST", "/knowledge_base/delete_knowledge_base", json=name)

    def update_kb_info(self, name: str, kb_info: str) -> Any:
        return self._data(
            "POST", "/knowledge_base/update_info", json={"knowledge_base_name": name, "kb_info": kb_info}
        )

    def list_files(self, name: str, details: bool = False) -> list[Any]:
        """File names, or with ``details`` one dict per file (loader, splitter, chunks, size, ...)."""
        params: dict[str, Any] = {"knowledge_base_name": name}
        if details:
            params["details"] = "true"
        return list(self._data("GET", "/knowledge_base/list_files", params=params))

    def retrieval_test(self, body: dict[str, Any]) -> dict[str, Any]:
        """Every candidate of a search with its stages and what dropped it (nothing is stored)."""
        return dict(
            self._data("POST", RETRIEVAL_TEST_PATH, json=body, timeout=httpx.Timeout(120.0, connect=5.0))
        )

    def upload_limits(self) -> dict[str, Any]:
        """``extensions`` a loader reads and ``max_upload_mb``."""
        return dict(self._data("GET", UPLOAD_LIMITS_PATH))

    def file_chunks(self, kb: str, file_name: str) -> list[dict[str, Any]]:
        """A file's chunks in the order they were stored (``id``, ``page_content``, ``metadata``)."""
        body = {"knowledge_base_name": kb, "query": "", "file_name": file_name}
        chunks = self._data("POST", "/knowledge_base/search_docs", json=body) or []
        # the name is a LIKE pattern ('_' matches any character): keep this file's chunks only
        return [c for c in chunks if file_name in _source_names(c)]

    def update_chunks(self, kb: str, docs: dict[str, dict[str, Any]]) -> list[str]:
        """Replace chunks' text (each re-embedded by the backend); returns the ids it did not find."""
        body = {"knowledge_base_name": kb, "docs": docs}
        data = self._data("POST", "/knowledge_base/update_docs_by_id", json=body) or {}
        return list(data.get("missing_ids") or [])

    def knowledge_base_details(self) -> list[dict[str, Any]]:
        return list(self._data("GET", "/knowledge_base/list_knowledge_base_details"))

    def embed_models(self) -> list[dict[str, Any]]:
        return list(self._data("GET", "/knowledge_base/list_embed_models"))

    def vector_store_types(self) -> list[str]:
        """The stores a new knowledge base can use on this backend, its default first."""
        return list(self._data("GET", "/knowledge_base/list_vector_store_types"))

    def upload_docs(
        self,
        name: str,
        files: list[tuple[str, bytes]],
        *,
        chunk_size: int = 250,
        chunk_overlap: int = 50,
        zh_title_enhance: bool = False,
        override: bool = False,
        to_vector_store: bool = True,
        timeout: float = 600.0,
    ) -> dict[str, Any]:
        form = {
            "knowledge_base_name": name,
            "override": str(override).lower(),
            "to_vector_store": str(to_vector_store).lower(),
            "chunk_size": str(chunk_size),
            "chunk_overlap": str(chunk_overlap),
            "zh_title_enhance": str(zh_title_enhance).lower(),
        }
        return (
            self._data(
                "POST",
                "/knowledge_base/upload_docs",
                data=form,
                files=[("files", (filename, content)) for filename, content in files],
                timeout=httpx.Timeout(timeout, connect=5.0),
            )
            or {}
        )

    def upload_temp_docs(self, files: list[tuple[str, bytes]], prev_id: str | None = None) -> dict[str, Any]:
        form = {"prev_id": prev_id} if prev_id else {}
        return self._data(
            "POST",
            "/knowledge_base/upload_temp_docs",
            data=form,
            files=[("files", (filename, content)) for filename, content in files],
            timeout=httpx.Timeout(600.0, connect=5.0),
        )

    def delete_docs(self, name: str, file_names: list[str], delete_content: bool) -> Any:
        body = {"knowledge_base_name": name, "file_names": file_names, "delete_content": delete_content}
        return self._data("POST", "/knowledge_base/delete_docs", json=body)

    def update_docs(self, name: str, file_names: list[str], **options: Any) -> Any:
        body = {"knowledge_base_name": name, "file_names": file_names, **options}
        return self._data(
            "POST", "/knowledge_base/update_docs", json=body, timeout=httpx.Timeout(600.0, connect=5.0)
        )

    def download_doc(self, name: str, file_name: str) -> Download:
        response = self._send(
            "GET",
            "/knowledge_base/download_doc",
            params={"knowledge_base_name": name, "file_name": file_name},
        )
        return Download(
            _filename(response, file_name), response.content, response.headers.get("content-type", "")
        )

    def download_url(self, name: str, file_name: str) -> str:
        """A link a browser can follow to the file (the backend serves it directly)."""
        query = httpx.QueryParams({"knowledge_base_name": name, "file_name": file_name})
        return f"{self.base_url}/knowledge_base/download_doc?{query}"

    def recreate_vector_store(self, name: str, **options: Any) -> Iterator[dict[str, Any]]:
        return self.stream_events(
            "/knowledge_base/recreate_vector_store",
            {"knowledge_base_name": name, **options},
            error_events_raise=False,
        )

    # ---- ingestion jobs ---------------------------------------------------------------------

    def upload_docs_job(self, name: str, files: list[tuple[str, bytes]], **options: Any) -> str:
        """Queue an upload as a background ingestion job; returns its id at once."""
        form = {"knowledge_base_name": name, "background": "true"}
        form.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items()})
        data = self._data(
            "POST",
            "/knowledge_base/upload_docs",
            data=form,
            files=[("files", (filename, content)) for filename, content in files],
            timeout=httpx.Timeout(600.0, connect=5.0),  # the files still travel; the parsing does not wait
        )
        return str(data["job_id"])

    def ingest_jobs(self, kb: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if kb is not None:
            params["knowledge_base_name"] = kb
        return list(self._data("GET", "/knowledge_base/jobs", params=params))

    def ingest_job(self, job_id: str) -> dict[str, Any]:
        return dict(self._data("GET", f"/knowledge_base/jobs/{job_id}"))

    def cancel_ingest_job(self, job_id: str) -> dict[str, Any]:
        return dict(self._data("POST", f"/knowledge_base/jobs/{job_id}/cancel"))

    # ---- MCP tool servers and the agent's tools ---------------------------------------------

    def agent_tools(self) -> list[dict[str, Any]]:
        """Every tool the agent may use for this user: name, description, source (builtin or a connection)."""
        return list(self._data("GET", AGENT_TOOLS_PATH, timeout=httpx.Timeout(60.0, connect=5.0)))

    def mcp_connections(self) -> list[dict[str, Any]]:
        return list(self._data("GET", MCP_CONNECTIONS_PATH))

    def add_mcp_connection(self, body: dict[str, Any]) -> dict[str, Any]:
        # Connecting a stdio server starts a program: allow it its connect time.
        return self._data("POST", MCP_CONNECTIONS_PATH, json=body, timeout=httpx.Timeout(90.0, connect=5.0))

    def update_mcp_connection(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._data(
            "PUT", f"{MCP_CONNECTIONS_PATH}/{name}", json=body, timeout=httpx.Timeout(90.0, connect=5.0)
        )

    def delete_mcp_connection(self, name: str) -> None:
        self._data("DELETE", f"{MCP_CONNECTIONS_PATH}/{name}", timeout=httpx.Timeout(30.0, connect=5.0))

    def reconnect_mcp_connection(self, name: str) -> dict[str, Any]:
        return self._data(
            "POST", f"{MCP_CONNECTIONS_PATH}/{name}/reconnect", timeout=httpx.Timeout(90.0, connect=5.0)
        )
