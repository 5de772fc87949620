"""Knowledge bases survive a restart; uploads above the configured size are refused with 413."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from server.launcher.harness import running_stack

pytestmark = pytest.mark.slow

ENV = {"CHATCHAT_KB__MAX_UPLOAD_MB": "0.01", "CHATCHAT_KB__HYBRID": "true"}


def test_every_kb_survives_a_restart_and_big_uploads_get_413(tmp_path: Path) -> None:
    root = tmp_path / "stack"
    with running_stack(root, ("--api",), env=ENV) as stack:
        api = stack.urls.api
        for name in ("alpha", "贝塔"):
            assert (
                httpx.post(
                    f"{api}/knowledge_base/create_knowledge_base",
                    timeout=60,
                    json={"knowledge_base_name": name},
                ).status_code
                == 200
            )
            response = httpx.post(
                f"{api}/knowledge_base/upload_docs",
                timeout=120,
                data={"knowledge_base_name": name},
                files=[
                    ("files", ("facts.txt", f"{name} 的口令是青松。The password of {name} is pine.".encode()))
                ],
            )
            assert response.json()["data"]["failed_files"] == {}
        too_big = httpx.post(
            f"{api}/knowledge_base/upload_docs",
            timeout=60,
            data={"knowledge_base_name": "alpha"},
            files=[("files", ("big.txt", b"x" * 20_000))],
        )
        assert too_big.status_code == 413 and "big.txt" in too_big.json()["msg"]
        assert not (stack.data_dir / "knowledge_base" / "alpha" / "content" / "big.txt").exists()
        before = httpx.get(f"{api}/knowledge_base/list_knowledge_bases").json()["data"]
        hits_before = httpx.post(
            f"{api}/knowledge_base/search_docs",
            timeout=60,
            json={"knowledge_base_name": "贝塔", "query": "口令"},
        ).json()

    with running_stack(root, ("--api",), env=ENV) as stack:
        api = stack.urls.api
        assert httpx.get(f"{api}/knowledge_base/list_knowledge_bases").json()["data"] == before
        assert set(before) == {"alpha", "贝塔", "samples"}
        hits = httpx.post(
            f"{api}/knowledge_base/search_docs",
            timeout=60,
            json={"knowledge_base_name": "贝塔", "query": "口令"},
        ).json()
        assert [h["id"] for h in hits] == [h["id"] for h in hits_before] and hits
        assert "青松" in hits[0]["page_content"]
        files = httpx.get(f"{api}/knowledge_base/list_files", params={"knowledge_base_name": "alpha"}).json()[
            "data"
        ]
        assert files == ["facts.txt"]
