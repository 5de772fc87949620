"""Chatchat 0.2.10's own client, unchanged, against our backend (in-process, single-user mode).

The story of Chatchat's ``tests/api/test_kb_api_request.py`` and ``test_kb_api.py``, told through
its ``ApiRequest`` (``tests/support/chatchat_client.py``): server state, model configuration and a
knowledge base's whole life, sub-folder file names (``wiki/Home.MD``) included. The chat endpoints,
which need a model, are driven the same way in ``tests/e2e/test_chatchat_client_stack.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from configs import Settings
from server.api.app import create_app
from server.launcher.harness import free_port
from tests.support.chatchat_client import (
    VECTOR_SEARCH_TOP_K,
    ApiRequest,
    check_error_msg,
    check_success_msg,
)

KB = "kb_for_api_test"
HOME = "Langchain-Chatchat keeps knowledge bases in folders. The wiki home page explains the install."
SETUP = "开发环境部署：先安装 Python 3.11，再安装依赖，然后初始化知识库。"
FAQ = "FAQ: the project supports txt, md, pdf, docx and many more file formats."
FILES = {"wiki/Home.MD": HOME, "wiki/开发环境部署.MD": SETUP, "FAQ.MD": FAQ}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiRequest]:
    root = tmp_path_factory.mktemp("chatchat-client")
    settings = Settings(
        openai_api={"port": free_port()},  # nothing listens: no model is needed here
        data_dir=root / "data",
        log_dir=root / "logs",
        kb={"samples_kb": None},
        auth={"enabled": False},  # Chatchat's clients call a single-user backend
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        request = ApiRequest("http://127.0.0.1", client=client)
        yield request
        assert request.errors == []  # nothing its parser would have dropped


def files() -> list[tuple[bytes, str]]:
    return [(text.encode(), name) for name, text in FILES.items()]


def test_server_configs_answer_chatchats_flat_keys_and_ours_under_data(api: ApiRequest) -> None:
    configs = api.get_server_configs()
    assert configs["LLM_MODELS"] == ["smollm2"]
    assert configs["DEFAULT_VS_TYPE"] == "faiss" and configs["VECTOR_SEARCH_TOP_K"] == 3
    assert (
        configs["CHUNK_SIZE"] == 250 and configs["OVERLAP_SIZE"] == 50 and configs["SCORE_THRESHOLD"] == 1.0
    )
    assert configs["PROMPT_TEMPLATES"]["llm_chat"]["default"] == "{{ input }}"
    assert configs["api_address"].startswith("http://127.0.0.1:")
    assert configs["openai_api_address"].endswith("/v1") and configs["controller_address"]
    for key in (
        "DEFAULT_KNOWLEDGE_BASE",
        "DEFAULT_SEARCH_ENGINE",
        "TEXT_SPLITTER_NAME",
        "HISTORY_LEN",
        "TEMPERATURE",
        "ZH_TITLE_ENHANCE",
        "SEARCH_ENGINE_TOP_K",
        "text_splitter_dict",
    ):
        assert key in configs, key
    assert configs["data"]["default_llm"] == "smollm2" and configs["code"] == 200


def test_prompt_template_is_the_bare_string(api: ApiRequest) -> None:
    assert json.loads(api.get_prompt_template()) == "{{ input }}"
    assert "{{ context }}" in json.loads(api.get_prompt_template("knowledge_base_chat", "default"))


def test_list_search_engines(api: ApiRequest) -> None:
    assert "searxng" in api.list_search_engines()


def test_config_models_carry_model_path_exists_and_online_api(api: ApiRequest) -> None:
    config = api.list_config_models()
    assert config["local"]["smollm2"]["model_path_exists"] is True
    assert config["local"]["smollm2"]["online_api"] is False
    assert api.get_model_config("smollm2")["online_api"] is False
    # Chatchat's dialogue page offers configured local models whose weights exist for switching
    offered = [name for name, c in config["local"].items() if c.get("model_path_exists")]
    assert offered == ["smollm2"]


def test_a_knowledge_base_lifecycle_with_sub_folder_file_names(api: ApiRequest) -> None:
    assert check_error_msg(api.create_knowledge_base(" "))
    created = api.create_knowledge_base(KB)
    assert created["code"] == 200, created
    assert check_error_msg(api.create_knowledge_base(KB))  # a second one with the same name
    assert KB in api.list_knowledge_bases()

    uploaded = api.upload_kb_docs(files(), knowledge_base_name=KB, override=True)
    assert uploaded["code"] == 200 and uploaded["data"]["failed_files"] == {}, uploaded
    again = api.upload_kb_docs(files(), knowledge_base_name=KB, override=False)
    assert again["code"] == 200 and len(again["data"]["failed_files"]) == len(FILES)
    custom = api.upload_kb_docs(
        files(),
        knowledge_base_name=KB,
        override=True,
        docs={"FAQ.MD": [{"page_content": "custom docs", "metadata": {}}]},
    )
    assert custom["code"] == 200 and custom["data"]["failed_files"] == {}, custom
    assert sorted(api.list_kb_docs(KB)) == sorted(FILES)

    found = api.search_kb_docs(KB, "wiki home page install")
    assert isinstance(found, list) and 0 < len(found) <= VECTOR_SEARCH_TOP_K
    assert found[0]["metadata"]["source"] == "wiki/Home.MD"
    download = api.get(
        "/knowledge_base/download_doc", params={"knowledge_base_name": KB, "file_name": "wiki/Home.MD"}
    )
    assert download.status_code == 200 and download.text == HOME

    assert check_success_msg(api.update_kb_info(KB, "Chatchat's own docs"))
    updated = api.update_kb_docs(knowledge_base_name=KB, file_names=list(FILES))
    assert updated["code"] == 200 and updated["data"]["failed_files"] == {}, updated
    chunk = api.search_kb_docs(KB, "开发环境部署")[0]
    assert (
        api.update_docs_by_id(KB, {chunk["id"]: {"page_content": "新的内容", "metadata": {}}}).status_code
        == 200
    )

    progress = list(api.recreate_vector_store(KB))
    assert progress and all(event["code"] == 200 for event in progress), progress
    assert {event["doc"] for event in progress} == set(FILES)
    assert len(api.search_kb_docs(KB, "本项目支持哪些文件格式?")) == VECTOR_SEARCH_TOP_K

    deleted = api.delete_kb_docs(KB, list(FILES), delete_content=True)
    assert deleted["code"] == 200 and deleted["data"]["failed_files"] == {}, deleted
    assert api.search_kb_docs(KB, "wiki home page install") == []
    assert api.delete_knowledge_base(KB)["code"] == 200
    assert KB not in api.list_knowledge_bases()


@pytest.mark.parametrize(
    "name", ["../Home.MD", "wiki/../../x.MD", "/etc/passwd", "C:wiki/a.md", "wiki//a.md", "a\\b.md"]
)
def test_sub_folder_names_stay_inside_the_content_folder(api: ApiRequest, name: str) -> None:
    assert api.create_knowledge_base("guarded")["code"] in (200, 409)
    answer = api.upload_kb_docs([(b"evil", name)], knowledge_base_name="guarded")
    assert answer["code"] == 400, answer
    assert api.list_kb_docs("guarded") == []
