"""What checking the caller costs per request, printed as JSON.

Two backends (``startup.py --api``, SQLite), one with accounts off and one with accounts on, each
with the same five knowledge bases; ``GET /knowledge_base/list_knowledge_bases`` is called over one
keep-alive connection, interleaved: anonymously on the first, with a login token and with an API
key on the second (the second also filters the list by what the caller may read). The overhead is
the difference of the medians. The token and key checks alone (``UserService.principal_for``, in
this process, on the same database) are timed too: as the backend does them (a caller is
remembered for 2 s, forgotten at once on any change to users or keys) and as the API server does
them (one query per request, so a key revoked in the backend is refused at once on /v1).

Usage: python bench/auth_overhead.py [--requests 400]
Target: overhead p50 <= 1 ms for both a token and a key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configs import Settings  # noqa: E402
from server.auth.users import UserService  # noqa: E402
from server.db.engine import create_engine, session_factory  # noqa: E402
from server.launcher.harness import running_stack  # noqa: E402

PATH = "/knowledge_base/list_knowledge_bases"
ADMIN = ("bench@example.com", "bench-password")
KBS = [f"kb_{i}" for i in range(5)]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
    }


def timed_get(client: httpx.Client, url: str, headers: dict[str, str]) -> float:
    start = time.perf_counter()
    response = client.get(url, headers=headers)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed


async def check_alone(settings: Settings, token: str, key: str, runs: int) -> dict[str, dict[str, float]]:
    """The check by itself: with the backend's 2 s memory, and as the API server does it (a query each)."""
    engine = create_engine(settings.sqlalchemy_url)
    results = {}
    for label, ttl in (("backend", 2.0), ("api_server_query_each", 0.0)):
        users = UserService(session_factory(engine), settings, cache_ttl=ttl)
        for name, bearer in (("token", token), ("key", key)):
            assert await users.principal_for(bearer) is not None
            samples = []
            for _ in range(runs):
                start = time.perf_counter()
                await users.principal_for(bearer)
                samples.append(time.perf_counter() - start)
            results[f"{label}_{name}"] = percentiles(samples)
    await engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    common = {"CHATCHAT_KB__SAMPLES_KB": "null"}
    accounts = {
        **common,
        "CHATCHAT_AUTH__ENABLED": "true",
        "CHATCHAT_AUTH__ADMIN_EMAIL": ADMIN[0],
        "CHATCHAT_AUTH__ADMIN_PASSWORD": ADMIN[1],
    }
    with (
        tempfile.TemporaryDirectory(prefix="chatchat-bench-") as tmp,
        running_stack(Path(tmp) / "open", ("--api",), env=common) as open_stack,
        running_stack(Path(tmp) / "accounts", ("--api",), env=accounts) as auth_stack,
        httpx.Client(timeout=30, trust_env=False) as client,
    ):
        token = client.post(
            f"{auth_stack.urls.api}/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]}
        ).json()["access_token"]
        as_token = {"Authorization": f"Bearer {token}"}
        key = client.post(f"{auth_stack.urls.api}/auth/api_keys", json={}, headers=as_token).json()["key"]
        as_key = {"Authorization": f"Bearer {key}"}
        for stack, headers in ((open_stack, {}), (auth_stack, as_token)):
            for name in KBS:
                client.post(
                    f"{stack.urls.api}/knowledge_base/create_knowledge_base",
                    json={"knowledge_base_name": name},
                    headers=headers,
                ).raise_for_status()
        paths = {
            "accounts_off": (f"{open_stack.urls.api}{PATH}", {}),
            "token": (f"{auth_stack.urls.api}{PATH}", as_token),
            "api_key": (f"{auth_stack.urls.api}{PATH}", as_key),
        }
        samples: dict[str, list[float]] = {name: [] for name in paths}
        for url, headers in paths.values():  # warm-up
            for _ in range(20):
                timed_get(client, url, headers)
        for _ in range(args.requests):
            for name, (url, headers) in paths.items():  # interleaved: machine drift hits all alike
                samples[name].append(timed_get(client, url, headers))
        auth_settings = Settings(data_dir=auth_stack.data_dir, log_dir=auth_stack.log_dir)
        from server.auth.secret_files import with_secrets

        alone = asyncio.run(check_alone(with_secrets(auth_settings), token, key, args.requests))

    report: dict[str, object] = {name: percentiles(values) for name, values in samples.items()}
    base = report["accounts_off"]["p50_ms"]  # type: ignore[index]
    report["overhead_p50_ms"] = {
        "token": round(report["token"]["p50_ms"] - base, 3),  # type: ignore[index]
        "api_key": round(report["api_key"]["p50_ms"] - base, 3),  # type: ignore[index]
    }
    report["check_alone"] = alone
    report["settings"] = {"requests": args.requests, "path": PATH, "database": "sqlite", "kbs": len(KBS)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
