"""init_database.py rebuilds, increments and prunes knowledge bases from their folders."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from configs import PROJECT_ROOT


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATCHAT_")}
    env["CHATCHAT_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "init_database.py"), *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def files_in_db(data_dir: Path, kb: str) -> set[str]:
    with sqlite3.connect(data_dir / "info.db") as db:
        return {
            r[0]
            for r in db.execute(
                "SELECT f.file_name FROM knowledge_file f JOIN knowledge_base k ON f.kb_id = k.id "
                "WHERE k.kb_name = ?",
                (kb,),
            )
        }


def test_folders_become_knowledge_bases_and_stay_in_step(tmp_path: Path) -> None:
    data = tmp_path / "data"
    content = data / "knowledge_base" / "手册" / "content"
    content.mkdir(parents=True)
    (content / "a.txt").write_text("第一份文件。The first file.", encoding="utf-8")

    result = run(data, "--recreate-vs", "-n", "手册")
    assert result.returncode == 0, result.stderr
    assert "rebuilding 手册" in result.stderr  # the progress bar
    assert files_in_db(data, "手册") == {"a.txt"}
    assert list(
        (data / "knowledge_base" / "手册" / "vector_store" / "usem3-multilingual").glob("index-*.faiss")
    )

    (content / "b.md").write_text("# 新\n\n第二份。", encoding="utf-8")
    assert run(data, "-i").returncode == 0
    assert files_in_db(data, "手册") == {"a.txt", "b.md"}

    (content / "a.txt").unlink()
    (content / "stray.txt").write_text("not in the database")
    assert run(data, "--prune-db", "--prune-folder").returncode == 0
    assert files_in_db(data, "手册") == {"b.md"}
    assert sorted(p.name for p in content.iterdir()) == ["b.md"]

    checked = run(data, "--check")
    assert checked.returncode == 0 and "手册 (faiss): files 1 in database, 1 in folder" in checked.stdout
    stale = data / "knowledge_base" / "手册" / "vector_store" / "old-model"
    stale.mkdir()  # the index of an embedding model the KB no longer uses
    checked = run(data, "--check")
    assert checked.returncode == 3 and "DISAGREES" in checked.stdout and "old-model" in checked.stdout
    repaired = run(data, "--repair")
    assert repaired.returncode == 0 and "after repair: agrees" in repaired.stdout and not stale.exists()


def test_a_bad_option_value_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = run(tmp_path / "data", "-r", "-e", "no-such-model")
    assert result.returncode == 1
    assert "no-such-model" in result.stderr and "Traceback" not in result.stderr
    assert run(tmp_path / "data").returncode == 2  # no action chosen
