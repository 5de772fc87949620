"""Accounts without a model: the upgrade keeps what users had, settings refuse unsafe exposure,
secrets are masked, and the agent's knowledge-base tool sees only what its caller may read."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Connection, inspect, text

from configs import Settings
from configs.masking import mask_url_credentials, mask_urls_in
from server.api.app import create_app
from server.auth.kb_access import ScopedKnowledgeSearcher, TempUploadOwners
from server.auth.principal import Principal
from server.auth.secret_files import with_secrets
from server.auth.users import UserService
from server.core.errors import NotFound
from server.db.engine import create_engine, session_factory
from server.db.migrate import alembic_config, current_revision, upgrade
from server.launcher.harness import free_port
from tests.support.postgres import postgres_with_password


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'info.db'}"
    else:
        with postgres_with_password("chatchat", "pw-upgrade") as url:
            yield url


LONG_EMAIL = "a" * 300 + "@example.com"
ADD_MCP_CONNECTION = text(
    "INSERT INTO mcp_connection (name, transport, command, args, env, url, headers, timeout, enabled, "
    "allowed_roles, allowed_users, created_by, created_at, updated_at) VALUES (:name, 'stdio', "
    "'mcp-files', '[]', '{}', NULL, '{}', 30, true, '[]', '[]', :created_by, '2026-01-01', '2026-01-01')"
)


# Databases made before accounts were in the chain: the revisions each had run, stamped the last.
MADE_BEFORE_ACCOUNTS = {
    "before-mcp": [],  # a release with knowledge bases only (stamped 0002)
    "mcp-after-0002": ["0005_mcp_servers"],  # MCP connections came straight after 0002
    "storage-and-mcp": ["0004_kb_storage", "0005_mcp_servers"],  # KB storage and MCP, no accounts
}


def _made_without_accounts(connection: Connection, revisions: list[str]) -> None:
    """Run those revisions' own upgrades and stamp the last, as that release's database is."""
    script = ScriptDirectory.from_config(alembic_config())
    with Operations.context(MigrationContext.configure(connection)):
        for revision in revisions:
            found = script.get_revision(revision)
            assert found is not None
            found.module.upgrade()
    if revisions:
        connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revisions[-1]})


@pytest.mark.parametrize("made_by", list(MADE_BEFORE_ACCOUNTS))
def test_an_upgrade_keeps_every_knowledge_base_and_conversation_for_the_first_admin(
    database_url: str, tmp_path: Path, made_by: str
) -> None:
    revisions = MADE_BEFORE_ACCOUNTS[made_by]

    async def scenario() -> dict[str, list]:
        engine = create_engine(database_url)
        await upgrade(engine, "0002_knowledge_base")
        async with engine.begin() as connection:
            for statement in (
                "INSERT INTO conversation (id, name, chat_type, created_at, updated_at) "
                "VALUES ('c1', 'kept', 'llm_chat', '2026-01-01', '2026-01-01')",
                "INSERT INTO message (id, conversation_id, chat_type, query, response, meta, created_at, "
                "updated_at) VALUES ('m1', 'c1', 'llm_chat', 'q', 'a', '{}', '2026-01-01', '2026-01-01')",
                "INSERT INTO knowledge_base (kb_name, kb_info, vs_type, embed_model, hybrid, file_count, "
                "created_at) VALUES ('old_kb', '', 'faiss', 'usem3-multilingual', false, 0, '2026-01-01')",
            ):
                await connection.execute(text(statement))
            await connection.run_sync(_made_without_accounts, revisions)
            tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
            assert "user_account" not in tables, "that release had no accounts"
            if "0005_mcp_servers" in revisions:
                await connection.execute(ADD_MCP_CONNECTION, {"name": "files", "created_by": None})
        await upgrade(engine)
        assert (
            await current_revision(engine) == ScriptDirectory.from_config(alembic_config()).get_current_head()
        )
        settings = with_secrets(Settings(data_dir=tmp_path / "data"))
        users = UserService(session_factory(engine), settings)
        admin = await users.create("first@example.com", "password-1")
        later = await users.create("second@example.com", "password-2")
        async with engine.connect() as connection:
            rows = {
                name: [tuple(r) for r in (await connection.execute(text(sql))).all()]
                for name, sql in {
                    "conversation": "SELECT id, user_id FROM conversation",
                    "message": "SELECT id, user_id FROM message",
                    "kb": "SELECT kb_name, owner_id, visibility FROM knowledge_base "
                    "JOIN kb_access ON kb_access.kb_id = knowledge_base.id",
                    "store_keys": "SELECT count(*) FROM knowledge_base WHERE store_key IS NOT NULL",
                    "uploads": "SELECT count(*) FROM temp_knowledge_base JOIN temp_kb_owner "
                    "ON temp_kb_owner.temp_id = temp_knowledge_base.id",
                    "mcp": "SELECT name, command FROM mcp_connection",
                }.items()
            }
            # an admin's email fits as the creator of a connection added after the upgrade
            await connection.execute(ADD_MCP_CONNECTION, {"name": "more", "created_by": LONG_EMAIL})
            await connection.commit()
        await engine.dispose()
        rows["roles"] = [admin.role, later.role]
        rows["admin_id"] = [admin.id]
        return rows

    rows = asyncio.run(scenario())
    admin_id = rows["admin_id"][0]
    assert rows["roles"] == ["admin", "pending"]
    assert rows["conversation"] == [("c1", admin_id)]
    assert rows["message"] == [("m1", admin_id)]
    assert rows["kb"] == [("old_kb", admin_id, "public")]
    assert rows["store_keys"] == [(1,)], "the knowledge base has its collection key"
    assert rows["uploads"] == [(0,)], "the file-chat tables exist"
    assert rows["mcp"] == ([("files", "mcp-files")] if "0005_mcp_servers" in revisions else [])


def test_knowledge_base_access_and_shares_survive_the_storage_migration(database_url: str) -> None:
    """0004 rebuilds ``knowledge_base`` (a copy on SQLite); the access rows that reference it stay."""

    async def scenario() -> dict[str, list]:
        engine = create_engine(database_url)
        await upgrade(engine, "0003_accounts")
        async with engine.begin() as connection:
            for statement in (
                "INSERT INTO user_account (id, email, display_name, role, password_hash, disabled, "
                "token_version, created_at) VALUES (1, 'owner@example.com', 'o', 'user', 'x', false, 0, "
                "'2026-01-01'), (2, 'reader@example.com', 'r', 'user', 'x', false, 0, '2026-01-01')",
                "INSERT INTO knowledge_base (id, kb_name, kb_info, vs_type, embed_model, hybrid, file_count, "
                "created_at) VALUES (7, 'ledger', '', 'faiss', 'usem3-multilingual', false, 0, '2026-01-01')",
                "INSERT INTO kb_access (kb_id, owner_id, visibility) VALUES (7, 1, 'shared')",
                "INSERT INTO kb_share (kb_id, user_id, permission) VALUES (7, 2, 'write')",
            ):
                await connection.execute(text(statement))
        await upgrade(engine)
        async with engine.connect() as connection:
            rows = {
                "access": [tuple(r) for r in await connection.execute(text("SELECT * FROM kb_access"))],
                "shares": [tuple(r) for r in await connection.execute(text("SELECT * FROM kb_share"))],
                "kb": [
                    tuple(r) for r in await connection.execute(text("SELECT id, kb_name FROM knowledge_base"))
                ],
            }
        await engine.dispose()
        return rows

    rows = asyncio.run(scenario())
    assert rows == {"access": [(7, 1, "shared")], "shares": [(7, 2, "write")], "kb": [(7, "ledger")]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"auth": {"enabled": False}, "api": {"host": "0.0.0.0", "port": 7861}}, "single-user mode"),
        ({"auth": {"enabled": False}, "webui": {"host": "192.168.1.5", "port": 8501}}, "webui binds"),
        (
            {"agent": {"shell_enabled": True}, "openai_api": {"host": "0.0.0.0", "port": 20000}},
            "shell_enabled",
        ),
        ({"auth": {"admin_email": "a@example.com"}}, "go together"),
    ],
)
def test_unsafe_exposure_is_refused_with_the_reason(changes: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**changes)


def test_loopback_single_user_mode_and_exposed_accounts_are_allowed() -> None:
    assert Settings(auth={"enabled": False}).exposed_services() == []
    exposed = Settings(api={"host": "0.0.0.0", "port": 7861}, allowed_hosts=["chat.example.org"])
    assert exposed.exposed_services() == [("api", "0.0.0.0")]
    assert "chat.example.org" in exposed.trusted_hosts(exposed.api)
    assert {"127.0.0.1", "localhost"} <= set(exposed.trusted_hosts(exposed.api))
    assert "http://localhost:8501" in exposed.own_origins()
    assert not any("evil" in origin for origin in exposed.own_origins())


def test_url_passwords_are_masked_anywhere_in_text() -> None:
    assert (
        mask_url_credentials("postgresql+asyncpg://app:s3cr%40t@db:5432/x")
        == "postgresql+asyncpg://app:***@db:5432/x"
    )
    assert (
        mask_url_credentials("proxy http://u:p@h:3128 and https://a:b@c/d")
        == "proxy http://u:***@h:3128 and https://a:***@c/d"
    )
    assert mask_url_credentials("http://host/path?x=a:b@c") == "http://host/path?x=a:b@c"  # no userinfo
    assert mask_urls_in({"a": ["http://u:pw@h"], "n": 1}) == {"a": ["http://u:***@h"], "n": 1}


def test_generated_secrets_are_kept_private_and_stable(tmp_path: Path) -> None:
    first = with_secrets(Settings(data_dir=tmp_path))
    again = with_secrets(Settings(data_dir=tmp_path))
    assert first.auth.secret_key.get_secret_value() == again.auth.secret_key.get_secret_value()
    assert first.auth.cluster_secret.get_secret_value() != first.auth.secret_key.get_secret_value()
    for path in (tmp_path / "secrets").iterdir():
        assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700
    configured = with_secrets(Settings(data_dir=tmp_path, auth={"secret_key": "mine"}))
    assert configured.auth.secret_key.get_secret_value() == "mine"


def test_the_agents_knowledge_tool_searches_only_what_its_caller_may_read(tmp_path: Path) -> None:
    settings = Settings(
        openai_api={"port": free_port()},
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        kb={"samples_kb": None},
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        tokens = {}
        for email in ("owner@example.com", "other@example.com"):
            client.post("/auth/signup", json={"email": email, "password": "password-1"})
            form = {"username": email, "password": "password-1"}
            tokens[email] = {
                "Authorization": f"Bearer {client.post('/auth/token', data=form).json()['access_token']}"
            }
        owner, other = tokens["owner@example.com"], tokens["other@example.com"]
        client.patch("/users/2", json={"role": "user"}, headers=owner)
        client.post(
            "/knowledge_base/create_knowledge_base", json={"knowledge_base_name": "ledger"}, headers=owner
        )
        uploaded = client.post(
            "/knowledge_base/upload_docs",
            data={"knowledge_base_name": "ledger"},
            files=[("files", ("ledger.txt", b"The lighthouse ledger is stored in cabinet seven."))],
            headers=owner,
        )
        assert uploaded.json()["data"]["failed_files"] == {}
        state = client.app.state

        async def found_by(principal: Principal) -> list[tuple[str, str]]:
            names = await state.kb_access.readable(principal)
            return await ScopedKnowledgeSearcher(state.kb_service, names).search_knowledge(
                "lighthouse ledger", 3
            )

        owner_p = Principal(id=1, email="owner@example.com", role="admin")
        other_p = Principal(id=2, email="other@example.com", role="user")
        assert client.portal.call(found_by, owner_p)[0][0] == "ledger/ledger.txt"
        assert client.portal.call(found_by, other_p) == []
        share = {"knowledge_base_name": "ledger", "visibility": "public"}
        assert client.post("/knowledge_base/access", json=share, headers=other).status_code == 404
        assert client.post("/knowledge_base/access", json=share, headers=owner).status_code == 200
        assert client.portal.call(found_by, other_p)[0][0] == "ledger/ledger.txt"


def test_metrics_can_be_protected_by_their_own_setting(tmp_path: Path) -> None:
    for public, status in ((True, 200), (False, 401)):
        settings = Settings(
            openai_api={"port": free_port()},
            data_dir=tmp_path / str(public),
            log_dir=tmp_path / "logs",
            kb={"samples_kb": None},
            auth={"metrics_public": public},
        )
        with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
            assert client.get("/metrics").status_code == status
            assert client.get("/health").status_code == 200


def test_a_file_chat_upload_is_its_owners_on_every_backend_and_goes_with_the_upload(
    database_url: str,
) -> None:
    owner = Principal(id=1, email="owner@example.com", role="user")
    other = Principal(id=2, email="other@example.com", role="admin")

    async def scenario() -> list[str]:
        engine = create_engine(database_url)
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO user_account (id, email, display_name, role, password_hash, disabled, "
                    "token_version, created_at) VALUES (1, 'owner@example.com', 'o', 'user', 'x', false, 0, "
                    "'2026-01-01'), (2, 'other@example.com', 'a', 'admin', 'x', false, 0, '2026-01-01')"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO temp_knowledge_base (id, vs_type, embed_model, size, files, created_at, "
                    "used_at) VALUES ('u1', 'faiss', 'm', 0, '[]', '2026-01-01', '2026-01-01')"
                )
            )
        await TempUploadOwners(session_factory(engine)).record("u1", owner)
        replica = create_engine(database_url)  # another backend process on the same database
        owners = TempUploadOwners(session_factory(replica))
        seen: list[str] = []

        async def outcome(principal: Principal, upload_id: str) -> str:
            try:
                await owners.require(principal, upload_id)
            except NotFound:
                return "404"
            return "ok"

        seen += [await outcome(owner, "u1"), await outcome(other, "u1"), await outcome(owner, "nope")]
        await owners.require(Principal.local(), "u1")  # single-user mode: no owners
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM temp_knowledge_base WHERE id = 'u1'"))
        seen.append(await outcome(owner, "u1"))
        try:
            await owners.record("u1", owner)  # an upload that expired meanwhile
        except NotFound:
            seen.append("gone")
        await replica.dispose()
        await engine.dispose()
        return seen

    assert asyncio.run(scenario()) == ["ok", "404", "404", "404", "gone"]
