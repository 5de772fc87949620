"""Secrets generated at first start and kept in the data dir, readable by the owner only (0600).

The launcher fills them in before it starts any service, so every process of one stack shares the
same login-token key and cluster secret; a configured value always wins.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from configs import Settings

SECRETS_DIR = "secrets"
JWT_KEY_FILE = "jwt_secret_key"
CLUSTER_SECRET_FILE = "cluster_secret"


def secret_path(settings: Settings, name: str) -> Path:
    return settings.data_dir / SECRETS_DIR / name


def read_or_create(path: Path) -> str:
    """The secret in ``path``, created (0600, atomically: never a half-written or world-readable file)."""
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    value = secrets.token_urlsafe(48)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    try:
        os.link(tmp, path)  # fails if another process created it first: then theirs is used
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text(encoding="utf-8").strip()


def with_secrets(settings: Settings) -> Settings:
    """The settings with ``auth.secret_key`` and ``auth.cluster_secret`` filled in."""
    auth = settings.auth
    updates: dict[str, SecretStr] = {}
    if auth.secret_key is None:
        updates["secret_key"] = SecretStr(read_or_create(secret_path(settings, JWT_KEY_FILE)))
    if auth.cluster_secret is None:
        updates["cluster_secret"] = SecretStr(read_or_create(secret_path(settings, CLUSTER_SECRET_FILE)))
    if not updates:
        return settings
    return settings.model_copy(update={"auth": auth.model_copy(update=updates)})


def cluster_secret(settings: Settings) -> str:
    """The configured cluster secret (``with_secrets`` must have run)."""
    if settings.auth.cluster_secret is None:
        raise RuntimeError("the cluster secret is not set: call with_secrets(settings) first")
    return settings.auth.cluster_secret.get_secret_value()
