"""One logging configuration for every process of the stack.

Each process calls :func:`setup_logging` once with its service name; records go to the console
and to ``<log_dir>/<service>.log`` (rotating) in one format. uvicorn, FastChat and Streamlit
loggers are routed through the root logger instead of keeping their own handlers.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
from pathlib import Path
from typing import Any

from configs.masking import mask_url_credentials

LOG_FORMAT = "%(asctime)s | %(service)s | %(filename)s:%(lineno)d | %(levelname)s | %(request_id)s%(message)s"

# The id of the chat request being served, so one chat can be followed across processes.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# Libraries that keep handlers of their own or log every request at INFO.
_ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "fastchat", "streamlit")
# aiosqlite logs every statement with its parameters at DEBUG (stored secrets among them).
_CHATTY_LOGGERS = (
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
    "openai",
    "urllib3",
    "asyncio",
    "multipart",
    "sse_starlette",
    "aiosqlite",
    "mcp",
)


class ServiceFilter(logging.Filter):
    """Stamps each record with the service name and the current request id."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        rid = request_id_var.get()
        record.request_id = f"[{rid}] " if rid else ""
        return True


class MaskingFormatter(logging.Formatter):
    """The shared format, with ``user:password@`` in any URL masked (messages and tracebacks alike)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_url_credentials(super().format(record))


def log_file(log_dir: Path, service: str) -> Path:
    """Where a service's log lives; the launcher points users at it when the service fails."""
    return log_dir / f"{service}.log"


def build_logging_config(
    service: str, log_dir: Path, level: str = "INFO", *, quiet: bool = False, console: bool = True
) -> dict[str, Any]:
    """The dictConfig for one process; separate from setup so tests can inspect it."""
    handlers = ["file"] + (["console"] if console else [])
    library_level = "WARNING" if quiet else level
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"service": {"()": ServiceFilter, "service": service}},
        "formatters": {"default": {"()": MaskingFormatter, "format": LOG_FORMAT}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["service"],
                "stream": "ext://sys.stderr",
            },
            "file": {
                "class": "logging.handlers.RotatingFileHandler",
                "formatter": "default",
                "filters": ["service"],
                "filename": str(log_file(log_dir, service)),
                "maxBytes": 20 * 1024 * 1024,
                "backupCount": 5,
                "encoding": "utf-8",
            },
        },
        "root": {"level": level, "handlers": handlers},
        "loggers": {
            **{name: {"level": library_level, "handlers": [], "propagate": True} for name in _ROUTED_LOGGERS},
            "uvicorn.access": {"level": "WARNING" if quiet else level, "handlers": [], "propagate": True},
            **{name: {"level": "WARNING", "handlers": [], "propagate": True} for name in _CHATTY_LOGGERS},
        },
    }


def setup_logging(
    service: str, log_dir: Path, level: str = "INFO", *, quiet: bool = False, console: bool = True
) -> None:
    """Configure logging for this process. Safe to call again (e.g. after a library reset it)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.config.dictConfig(build_logging_config(service, log_dir, level, quiet=quiet, console=console))
    logging.captureWarnings(True)
