"""One logging configuration: every record in one format, to the console and the service's own file."""

from __future__ import annotations

import logging
from pathlib import Path

from server.core.logging import request_id_var, setup_logging


def test_records_carry_service_location_and_request_id(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("api", tmp_path, "INFO", console=False)
        logging.getLogger("uvicorn.error").info("from uvicorn")
        logging.getLogger("fastchat.controller").warning("from fastchat")
        token = request_id_var.set("abc123")
        logging.getLogger("server.x").info("inside a request")
        request_id_var.reset(token)
        logging.getLogger("httpx").info("too chatty to keep")
        for handler in root.handlers:
            handler.flush()
        lines = (tmp_path / "api.log").read_text().splitlines()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert len(lines) == 3
    time_, service, where, level, message = lines[0].split(" | ")
    assert service == "api" and where.startswith("test_logging.py:") and level == "INFO"
    assert message == "from uvicorn"
    assert lines[1].endswith("WARNING | from fastchat")
    assert lines[2].endswith("INFO | [abc123] inside a request")


def test_quiet_mutes_library_info_but_keeps_warnings(tmp_path: Path) -> None:
    from server.core.logging import build_logging_config

    config = build_logging_config("controller", tmp_path, "INFO", quiet=True)
    assert config["loggers"]["fastchat"]["level"] == "WARNING"
    assert config["loggers"]["uvicorn.access"]["level"] == "WARNING"
    assert config["root"]["level"] == "INFO"
