"""Migrations, the pool, DSN redaction and the query catalogue, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import psycopg
import pytest

from employes_sync.store import db
from employes_sync.store.db import DatabaseUnavailable, migrate, open_pool, redact_dsn
from employes_sync.store.queries import Q, parse_catalogue

STORE = Path(db.__file__).parent


def test_migrations_are_numbered_files_each_doing_one_thing() -> None:
    found = db.migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    for m in found:
        assert re.fullmatch(r"[a-z0-9_]+", m.name)
        # one concern per file, said in its opening comment (a concern's tables, functions and
        # triggers may sit together: request_sync's request table beside its function)
        assert m.sql.lstrip().startswith("-- "), m.name


async def test_migrate_twice_applies_nothing_the_second_time(database_url: str) -> None:
    pool = await open_pool(database_url)
    try:
        first = await migrate(pool)
        second = await migrate(pool)
    finally:
        await pool.close()
    assert first == [m.version for m in db.migrations()]
    assert second == []
    with psycopg.connect(database_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == first


async def test_concurrent_migrators_apply_each_migration_once(database_url: str) -> None:
    pools = [await open_pool(database_url, max_size=1) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(p) for p in pools))
    finally:
        for p in pools:
            await p.close()
    applied = sorted(v for r in results for v in r)
    assert applied == [m.version for m in db.migrations()]
    assert sum(1 for r in results if r) == 1


async def test_unreachable_database_is_one_line_without_password(tmp_path: Path) -> None:
    dsn = f"postgresql://sync:s3cr3t-pw@/nodb?host={tmp_path}&port=1"
    with pytest.raises(DatabaseUnavailable) as info:
        await open_pool(dsn, timeout=3)
    message = str(info.value)
    assert message.startswith("database unreachable at ")
    assert "s3cr3t-pw" not in message
    assert "\n" not in message


async def test_wrong_password_is_reported_without_it(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE ROLE esync_pw LOGIN PASSWORD 'right-pw'")
    # The embedded server trusts local sockets, so this only proves the password is never echoed.
    dsn = database_url.replace("postgres:@", "esync_pw:wrong-pw-123@")
    try:
        pool = await open_pool(dsn, timeout=3)
        await pool.close()
    except DatabaseUnavailable as exc:
        assert "wrong-pw-123" not in str(exc)


async def test_unreachable_database_hides_every_credential_libpq_takes(tmp_path: Path) -> None:
    # libpq 18 takes credentials beside the password: OAuth's client secret and the SCRAM keys. The
    # message (a resource's status and events) must hold none of them, in either syntax.
    base = f"host={tmp_path} port=1 dbname=nodb"
    dsns = [
        f"{base} oauth_issuer=https://issuer.example oauth_client_id=c oauth_client_secret=oauth-s3cret",
        f"{base} scram_client_key=c2NyYW0tY2xpZW50 scram_server_key=c2NyYW0tc2VydmVy",
        f"postgresql://sync@/nodb?host={tmp_path}&port=1&oauth_issuer=https://issuer.example"
        "&oauth_client_id=c&oauth_client_secret=oauth-s3cret",
    ]
    for dsn in dsns:
        with pytest.raises(DatabaseUnavailable) as info:
            await open_pool(dsn, timeout=3)
        message = str(info.value)
        assert message.startswith("database unreachable at "), message
        assert f"host={tmp_path}" in message, message  # the rest is still shown
        for shown in (message, redact_dsn(dsn)):
            for secret in ("oauth-s3cret", "c2NyYW0tY2xpZW50", "c2NyYW0tc2VydmVy"):
                assert secret not in shown, shown


def test_redact_dsn_hides_secrets_in_both_syntaxes() -> None:
    url = redact_dsn("postgresql://me:hunter2@db.example:5432/app?sslpassword=k3y")
    assert "hunter2" not in url and "k3y" not in url
    assert "db.example" in url and "me" in url
    kv = redact_dsn("host=db user=me password='hunter2' dbname=app")
    assert "hunter2" not in kv and "***" in kv
    assert redact_dsn("host=db password=hunter2 'unterminated") == "<unusable dsn>"


def test_every_query_is_named_described_and_parameterised() -> None:
    text = (STORE / "queries.sql").read_text()
    catalogue = parse_catalogue(text)
    assert len(catalogue) == len(re.findall(r"^-- name: \w+$", text, re.MULTILINE))
    for name, (description, sql) in catalogue.items():
        assert description, name
        # no positional or format-style placeholders: only %(name)s
        assert not re.search(r"%s|\{\w+\}", sql), name
    assert Q.store_employees == catalogue["store_employees"][1]
    with pytest.raises(AttributeError):
        _ = Q.no_such_query


def test_no_sql_is_formatted_in_store_code() -> None:
    for path in STORE.glob("*.py"):
        source = path.read_text()
        assert not re.search(r"execute\(\s*f[\"']", source), path.name
        assert ".format(" not in source, path.name


async def test_original_operations_sql_still_works(store_pool) -> None:
    async with store_pool.connection() as conn:
        await conn.execute(
            "SELECT job_type, status, COUNT(*), AVG(processing_time_ms) FROM processing_queue"
            " GROUP BY job_type, status"
        )
        await conn.execute(
            "SELECT * FROM processing_queue WHERE status = 'processing'"
            " AND started_at < NOW() - INTERVAL '5 minutes'"
        )
        cur = await conn.execute("SELECT retry_failed_jobs('5 minutes')")
        assert (await cur.fetchone()) == (0,)
        await conn.execute(
            "DELETE FROM processing_queue WHERE status = 'failed' AND created_at < NOW() - INTERVAL '7 days'"
        )
        cur = await conn.execute("SELECT * FROM claim_next_job()")
        assert await cur.fetchone() is None
        await conn.execute(
            "SELECT employee_id, event_type, event_date, event_title, event_description, event_data,"
            " change_id FROM employes_timeline_v2"
        )
        await conn.execute(
            "SELECT employee_id, endpoint, api_response, data_hash, collected_at, last_verified_at,"
            " is_latest FROM employes_raw_data WHERE is_latest"
        )


async def test_the_pool_checks_a_connection_only_when_it_was_not_used_a_moment_ago(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection given back a moment ago goes out unchecked; one idle for longer is checked, so a
    connection the server dropped meanwhile is replaced before a statement meets it."""
    from psycopg_pool import AsyncConnectionPool

    checks: list[object] = []
    real = AsyncConnectionPool.check_connection

    async def counted(conn: psycopg.AsyncConnection[object]) -> None:
        checks.append(conn)
        await real(conn)

    monkeypatch.setattr(AsyncConnectionPool, "check_connection", staticmethod(counted))
    pool = await open_pool(database_url, min_size=1, max_size=1)
    try:
        for _ in range(5):
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
        assert len(checks) == 1  # only the first time out: it had never been given back
        async with pool.connection() as conn:
            pid = conn.info.backend_pid
        monkeypatch.setattr(db, "RECENTLY_USED_SECONDS", 0.0)  # as if it had waited in the pool
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        async with pool.connection() as conn:
            row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
        assert row is not None and row[0] != pid  # the dead one was found by the check and replaced
        assert len(checks) == 3 and checks[1] is checks[0]  # it was checked; then its (new) replacement
    finally:
        await pool.close()
