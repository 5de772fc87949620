"""Langchain-Chatchat 0.2.10's own API client (``webui_pages/utils.py`` ``ApiRequest``), as it calls us.

Transcribed call for call from the 0.2.10 tag: the same paths, bodies (its defaults included, so
``conversation_id`` goes out as ``null``), form encodings and response handling: streamed answers
are read chunk by chunk and parsed with its ``chunk[6:-2]``, plain answers through its
``value_func``. Only its ``configs`` import is replaced by the values a user of ours would put in
its ``configs/*.py`` (our model and embedder names); everything else is its behaviour, so a test
that passes here is a call that works from Chatchat's web UI and scripts unchanged.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx

logger = logging.getLogger(__name__)

# Chatchat's configs, as its client machine would set them to talk to us.
EMBEDDING_MODEL = "usem3-multilingual"
DEFAULT_VS_TYPE = "faiss"
LLM_MODELS = ["smollm2"]
TEMPERATURE = 0.7
SCORE_THRESHOLD = 1.0
CHUNK_SIZE = 250
OVERLAP_SIZE = 50
ZH_TITLE_ENHANCE = False
VECTOR_SEARCH_TOP_K = 3
SEARCH_ENGINE_TOP_K = 3
HTTPX_DEFAULT_TIMEOUT = 300.0


class ApiRequest:
    """Chatchat's synchronous ``ApiRequest``; ``errors`` collects what its parser would only log."""

    def __init__(
        self, base_url: str, timeout: float = HTTPX_DEFAULT_TIMEOUT, client: httpx.Client | None = None
    ) -> None:
        """``client``: an httpx client to send through instead (an in-process app's TestClient)."""
        self.base_url = base_url
        self.timeout = timeout
        self.client = client or httpx.Client(base_url=base_url, timeout=timeout)
        self.errors: list[str] = []

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, params: Any = None, stream: bool = False, **kwargs: Any) -> Any:
        if stream:
            return self.client.stream("GET", url, params=params, **kwargs)
        return self.client.get(url, params=params, **kwargs)

    def post(
        self, url: str, data: dict | None = None, json: Any = None, stream: bool = False, **kwargs: Any
    ) -> Any:
        if stream:
            return self.client.stream("POST", url, data=data, json=json, **kwargs)
        return self.client.post(url, data=data, json=json, **kwargs)

    def _httpx_stream2generator(self, response: Any, as_json: bool = False) -> Iterator[Any]:
        try:
            with response as r:
                for chunk in r.iter_text(None):
                    if not chunk:
                        continue
                    if as_json:
                        try:
                            if chunk.startswith("data: "):
                                data = json.loads(chunk[6:-2])
                            elif chunk.startswith(":"):
                                continue
                            else:
                                data = json.loads(chunk)
                            yield data
                        except Exception as e:  # noqa: BLE001 - Chatchat logs and drops the chunk
                            self.errors.append(f"接口返回json错误： ‘{chunk}’。错误信息是：{e}。")
                    else:
                        yield chunk
        except httpx.HTTPError as e:
            self.errors.append(str(e))
            yield {"code": 500, "msg": f"API通信遇到错误：{e}"}

    def _get_response_value(
        self, response: httpx.Response, as_json: bool = False, value_func: Callable | None = None
    ) -> Any:
        def to_json(r: httpx.Response) -> Any:
            try:
                return r.json()
            except Exception as e:  # noqa: BLE001 - as Chatchat does
                return {"code": 500, "msg": "API未能返回正确的JSON。" + str(e), "data": None}

        if value_func is None:
            value_func = lambda r: r  # noqa: E731
        return value_func(to_json(response)) if as_json else value_func(response)

    # ---- server state ------------------------------------------------------------------------

    def get_server_configs(self, **kwargs: Any) -> dict:
        response = self.post("/server/configs", **kwargs)
        return self._get_response_value(response, as_json=True)

    def list_search_engines(self, **kwargs: Any) -> list:
        response = self.post("/server/list_search_engines", **kwargs)
        return self._get_response_value(response, as_json=True, value_func=lambda r: r["data"])

    def get_prompt_template(self, type: str = "llm_chat", name: str = "default", **kwargs: Any) -> str:  # noqa: A002
        data = {"type": type, "name": name}
        response = self.post("/server/get_prompt_template", json=data, **kwargs)
        return self._get_response_value(response, value_func=lambda r: r.text)

    # ---- chat --------------------------------------------------------------------------------

    def chat_chat(
        self,
        query: str,
        conversation_id: str | None = None,
        history_len: int = -1,
        history: list[dict] | None = None,
        stream: bool = True,
        model: str = LLM_MODELS[0],
        temperature: float = TEMPERATURE,
        max_tokens: int | None = None,
        prompt_name: str = "default",
        **kwargs: Any,
    ) -> Iterator[Any]:
        data = {
            "query": query,
            "conversation_id": conversation_id,
            "history_len": history_len,
            "history": history or [],
            "stream": stream,
            "model_name": model,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "prompt_name": prompt_name,
        }
        response = self.post("/chat/chat", json=data, stream=True, **kwargs)
        return self._httpx_stream2generator(response, as_json=True)

    def agent_chat(
        self,
        query: str,
        history: list[dict] | None = None,
        stream: bool = True,
        model: str = LLM_MODELS[0],
        temperature: float = TEMPERATURE,
        max_tokens: int | None = None,
        prompt_name: str = "default",
    ) -> Iterator[Any]:
        data = {
            "query": query,
            "history": history or [],
            "stream": stream,
            "model_name": model,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "prompt_name": prompt_name,
        }
        response = self.post("/chat/agent_chat", json=data, stream=True)
        return self._httpx_stream2generator(response, as_json=True)

    def knowledge_base_chat(
        self,
        query: str,
        knowledge_base_name: str,
        top_k: int = VECTOR_SEARCH_TOP_K,
        score_threshold: float = SCORE_THRESHOLD,
        history: list[dict] | None = None,
        stream: bool = True,
        model: str = LLM_MODELS[0],
        temperature: float = TEMPERATURE,
        max_tokens: int | None = None,
        prompt_name: str = "default",
    ) -> Iterator[Any]:
        data = {
            "query": query,
            "knowledge_base_name": knowledge_base_name,
            "top_k": top_k,
            "score_threshold": score_threshold,
            "history": history or [],
            "stream": stream,
            "model_name": model,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "prompt_name": prompt_name,
        }
        response = self.post("/chat/knowledge_base_chat", json=data, stream=True)
        return self._httpx_stream2generator(response, as_json=True)

    def upload_temp_docs(
        self,
        files: list[str | Path | bytes],
        knowledge_id: str | None = None,
        chunk_size: int = CHUNK_SIZE,
        chunk_overlap: int = OVERLAP_SIZE,
        zh_title_enhance: bool = ZH_TITLE_ENHANCE,
    ) -> Any:
        converted = [_convert_file(file) for file in files]
        data = {
            "knowledge_id": knowledge_id,
            "chunk_size": chunk_size,
            "chunk_overlap": chunk_overlap,
            "zh_title_enhance": zh_title_enhance,
        }
        response = self.post(
            "/knowledge_base/upload_temp_docs",
            data=data,
            files=[("files", (filename, file)) for filename, file in converted],
        )
        return self._get_response_value(response, as_json=True)

    def file_chat(
        self,
        query: str,
        knowledge_id: str,
        top_k: int = VECTOR_SEARCH_TOP_K,
        score_threshold: float = SCORE_THRESHOLD,
        history: list[dict] | None = None,
        stream: bool = True,
        model: str = LLM_MODELS[0],
        temperature: float = TEMPERATURE,
        max_tokens: int | None = None,
        prompt_name: str = "default",
    ) -> Iterator[Any]:
        data = {
            "query": query,
            "knowledge_id": knowledge_id,
            "top_k": top_k,
            "score_threshold": score_threshold,
            "history": history or [],
            "stream": stream,
            "model_name": model,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "prompt_name": prompt_name,
        }
        response = self.post("/chat/file_chat", json=data, stream=True)
        return self._httpx_stream2generator(response, as_json=True)

    def search_engine_chat(
        self,
        query: str,
        search_engine_name: str,
        top_k: int = SEARCH_ENGINE_TOP_K,
        history: list[dict] | None = None,
        stream: bool = True,
        model: str = LLM_MODELS[0],
        temperature: float = TEMPERATURE,
        max_tokens: int | None = None,
        prompt_name: str = "default",
        split_result: bool = False,
    ) -> Iterator[Any]:
        data = {
            "query": query,
            "search_engine_name": search_engine_name,
            "top_k": top_k,
            "history": history or [],
            "stream": stream,
            "model_name": model,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "prompt_name": prompt_name,
            "split_result": split_result,
        }
        response = self.post("/chat/search_engine_chat", json=data, stream=True)
        return self._httpx_stream2generator(response, as_json=True)

    # ---- knowledge bases ---------------------------------------------------------------------

    def list_knowledge_bases(self) -> list:
        response = self.get("/knowledge_base/list_knowledge_bases")
        return self._get_response_value(response, as_json=True, value_func=lambda r: r.get("data", []))

    def create_knowledge_base(
        self,
        knowledge_base_name: str,
        vector_store_type: str = DEFAULT_VS_TYPE,
        embed_model: str = EMBEDDING_MODEL,
    ) -> Any:
        data = {
            "knowledge_base_name": knowledge_base_name,
            "vector_store_type": vector_store_type,
            "embed_model": embed_model,
        }
        response = self.post("/knowledge_base/create_knowledge_base", json=data)
        return self._get_response_value(response, as_json=True)

    def delete_knowledge_base(self, knowledge_base_name: str) -> Any:
        response = self.post("/knowledge_base/delete_knowledge_base", json=f"{knowledge_base_name}")
        return self._get_response_value(response, as_json=True)

    def list_kb_docs(self, knowledge_base_name: str) -> list:
        response = self.get("/knowledge_base/list_files", params={"knowledge_base_name": knowledge_base_name})
        return self._get_response_value(response, as_json=True, value_func=lambda r: r.get("data", []))

    def search_kb_docs(
        self,
        knowledge_base_name: str,
        query: str = "",
        top_k: int = VECTOR_SEARCH_TOP_K,
        score_threshold: float = SCORE_THRESHOLD,
        file_name: str = "",
        metadata: dict | None = None,
    ) -> Any:
        data = {
            "query": query,
            "knowledge_base_name": knowledge_base_name,
            "top_k": top_k,
            "score_threshold": score_threshold,
            "file_name": file_name,
            "metadata": metadata or {},
        }
        response = self.post("/knowledge_base/search_docs", json=data)
        return self._get_response_value(response, as_json=True)

    def update_docs_by_id(self, knowledge_base_name: str, docs: dict[str, dict]) -> Any:
        data = {"knowledge_base_name": knowledge_base_name, "docs": docs}
        response = self.post("/knowledge_base/update_docs_by_id", json=data)
        return self._get_response_value(response)

    def upload_kb_docs(
        self,
        files: list[Any],
        knowledge_base_name: str,
        override: bool = False,
        to_vector_store: bool = True,
        chunk_size: int = CHUNK_SIZE,
        chunk_overlap: int = OVERLAP_SIZE,
        zh_title_enhance: bool = ZH_TITLE_ENHANCE,
        docs: dict | None = None,
        not_refresh_vs_cache: bool = False,
    ) -> Any:
        converted = [
            _convert_file(*file) if isinstance(file, tuple) else _convert_file(file) for file in files
        ]
        data: dict[str, Any] = {
            "knowledge_base_name": knowledge_base_name,
            "override": override,
            "to_vector_store": to_vector_store,
            "chunk_size": chunk_size,
            "chunk_overlap": chunk_overlap,
            "zh_title_enhance": zh_title_enhance,
            "docs": docs or {},
            "not_refresh_vs_cache": not_refresh_vs_cache,
        }
        if isinstance(data["docs"], dict):
            data["docs"] = json.dumps(data["docs"], ensure_ascii=False)
        response = self.post(
            "/knowledge_base/upload_docs",
            data=data,
            files=[("files", (filename, file)) for filename, file in converted],
        )
        return self._get_response_value(response, as_json=True)

    def delete_kb_docs(
        self,
        knowledge_base_name: str,
        file_names: list[str],
        delete_content: bool = False,
        not_refresh_vs_cache: bool = False,
    ) -> Any:
        data = {
            "knowledge_base_name": knowledge_base_name,
            "file_names": file_names,
            "delete_content": delete_content,
            "not_refresh_vs_cache": not_refresh_vs_cache,
        }
        response = self.post("/knowledge_base/delete_docs", json=data)
        return self._get_response_value(response, as_json=True)

    def update_kb_info(self, knowledge_base_name: str, kb_info: str) -> Any:
        data = {"knowledge_base_name": knowledge_base_name, "kb_info": kb_info}
        response = self.post("/knowledge_base/update_info", json=data)
        return self._get_response_value(response, as_json=True)

    def update_kb_docs(
        self,
        knowledge_base_name: str,
        file_names: list[str],
        override_custom_docs: bool = False,
        chunk_size: int = CHUNK_SIZE,
        chunk_overlap: int = OVERLAP_SIZE,
        zh_title_enhance: bool = ZH_TITLE_ENHANCE,
        docs: dict | None = None,
        not_refresh_vs_cache: bool = False,
    ) -> Any:
        data: dict[str, Any] = {
            "knowledge_base_name": knowledge_base_name,
            "file_names": file_names,
            "override_custom_docs": override_custom_docs,
            "chunk_size": chunk_size,
            "chunk_overlap": chunk_overlap,
            "zh_title_enhance": zh_title_enhance,
            "docs": docs or {},
            "not_refresh_vs_cache": not_refresh_vs_cache,
        }
        if isinstance(data["docs"], dict):
            data["docs"] = json.dumps(data["docs"], ensure_ascii=False)
        response = self.post("/knowledge_base/update_docs", json=data)
        return self._get_response_value(response, as_json=True)

    def recreate_vector_store(
        self,
        knowledge_base_name: str,
        allow_empty_kb: bool = True,
        vs_type: str = DEFAULT_VS_TYPE,
        embed_model: str = EMBEDDING_MODEL,
        chunk_size: int = CHUNK_SIZE,
        chunk_overlap: int = OVERLAP_SIZE,
        zh_title_enhance: bool = ZH_TITLE_ENHANCE,
    ) -> Iterator[Any]:
        data = {
            "knowledge_base_name": knowledge_base_name,
            "allow_empty_kb": allow_empty_kb,
            "vs_type": vs_type,
            "embed_model": embed_model,
            "chunk_size": chunk_size,
            "chunk_overlap": chunk_overlap,
            "zh_title_enhance": zh_title_enhance,
        }
        response = self.post("/knowledge_base/recreate_vector_store", json=data, stream=True, timeout=None)
        return self._httpx_stream2generator(response, as_json=True)

    # ---- models --------------------------------------------------------------------------------

    def list_running_models(self, controller_address: str | None = None) -> Any:
        data = {"controller_address": controller_address}
        response = self.post("/llm_model/list_running_models", json=data)
        return self._get_response_value(response, as_json=True, value_func=lambda r: r.get("data", []))

    def get_default_llm_model(self, local_first: bool = True) -> tuple[str, bool]:
        running_models = self.list_running_models()
        if not running_models:
            return "", False
        model = ""
        for m in LLM_MODELS:
            if m not in running_models:
                continue
            is_local = not running_models[m].get("online_api")
            if local_first and not is_local:
                continue
            model = m
            break
        if not model:
            model = list(running_models)[0]
        is_local = not running_models[model].get("online_api")
        return model, is_local

    def list_config_models(self, types: list[str] | None = None) -> dict[str, dict]:
        data = {"types": types or ["local", "online"]}
        response = self.post("/llm_model/list_config_models", json=data)
        return self._get_response_value(response, as_json=True, value_func=lambda r: r.get("data", {}))

    def get_model_config(self, model_name: str | None = None) -> dict:
        data = {"model_name": model_name}
        response = self.post("/llm_model/get_model_config", json=data)
        return self._get_response_value(response, as_json=True, value_func=lambda r: r.get("data", {}))

    def stop_llm_model(self, model_name: str, controller_address: str | None = None) -> Any:
        data = {"model_name": model_name, "controller_address": controller_address}
        response = self.post("/llm_model/stop", json=data)
        return self._get_response_value(response, as_json=True)

    def change_llm_model(
        self, model_name: str, new_model_name: str, controller_address: str | None = None
    ) -> Any:
        if not model_name or not new_model_name:
            return {"code": 500, "msg": "未指定模型名称"}
        running_models = self.list_running_models()
        if new_model_name == model_name or new_model_name in running_models:
            return {"code": 200, "msg": "无需切换"}
        if model_name not in running_models:
            return {"code": 500, "msg": f"指定的模型'{model_name}'没有运行。当前运行模型：{running_models}"}
        config_models = self.list_config_models()
        if new_model_name not in config_models.get("local", {}):
            return {"code": 500, "msg": f"要切换的模型'{new_model_name}'在configs中没有配置。"}
        data = {
            "model_name": model_name,
            "new_model_name": new_model_name,
            "controller_address": controller_address,
        }
        response = self.post("/llm_model/change", json=data)
        return self._get_response_value(response, as_json=True)

    # ---- other -------------------------------------------------------------------------------

    def embed_texts(
        self, texts: list[str], embed_model: str = EMBEDDING_MODEL, to_query: bool = False
    ) -> Any:
        data = {"texts": texts, "embed_model": embed_model, "to_query": to_query}
        resp = self.post("/other/embed_texts", json=data)
        return self._get_response_value(resp, as_json=True, value_func=lambda r: r.get("data"))

    def chat_feedback(self, message_id: str, score: int, reason: str = "") -> Any:
        data = {"message_id": message_id, "score": score, "reason": reason}
        resp = self.post("/chat/feedback", json=data)
        return self._get_response_value(resp)


def _convert_file(file: Any, filename: str | None = None) -> tuple[str | None, Any]:
    """Chatchat's ``convert_file``: bytes, a file object or a local path (its base name is sent)."""
    if isinstance(file, bytes):
        file = BytesIO(file)
    elif hasattr(file, "read"):
        filename = filename or file.name
    else:
        file = Path(file).absolute().open("rb")
        filename = filename or os.path.split(file.name)[-1]
    return filename, file


def check_error_msg(data: str | dict | list, key: str = "errorMsg") -> str:
    if isinstance(data, dict):
        if key in data:
            return data[key]
        if "code" in data and data["code"] != 200:
            return data["msg"]
    return ""


def check_success_msg(data: str | dict | list, key: str = "msg") -> str:
    if isinstance(data, dict) and key in data and "code" in data and data["code"] == 200:
        return data[key]
    return ""
