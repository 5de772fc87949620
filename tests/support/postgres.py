"""A throwaway PostgreSQL server (Debian's binaries) with a password, for stacks that need one."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from server.launcher.harness import free_port


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; drop to its own account when we are root."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def postgres_with_password(user: str, password: str, database: str = "chatchat") -> Iterator[str]:
    """Yield ``postgresql+asyncpg://user:password@127.0.0.1:port/database`` (scram-sha-256 auth)."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        pytest.fail("PostgreSQL is not installed: run `bash scripts/setup.sh --test`")
    bindir = Path(binaries[-1])
    root = Path(tempfile.mkdtemp(prefix="chatchat-pg-"))
    root.chmod(0o755)
    pwfile = root / "pw"
    pwfile.write_text(password)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(pwfile, "postgres")
    data, port = root / "data", free_port()
    run = lambda args: subprocess.run(_as_postgres(args), check=True, capture_output=True)  # noqa: E731
    run([str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=scram-sha-256", f"--pwfile={pwfile}"])
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    run([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "start", "-l", str(root / "log")])
    try:
        env = {**os.environ, "PGPASSWORD": password}
        subprocess.run(
            _as_postgres(
                [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database]
            ),
            check=True,
            capture_output=True,
            env=env,
        )
        yield f"postgresql+asyncpg://{user}:{password}@127.0.0.1:{port}/{database}"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
