"""The operator's pools are shared by every resource: one resource's database must not hold up the others.

Against a real PostgreSQL: tenant A's database hangs its migration (another session holds the migration
lock, as a database the resource's author runs can do at will) or refuses it (a role that may not
create tables); tenant B's database is ordinary.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from employes_sync.controller.pools import Pools
from employes_sync.kube.problem import Problem
from employes_sync.store.db import MIGRATION_LOCK_KEY
from tests.conftest import fresh_database

pytestmark = pytest.mark.slow


@pytest.fixture
def other_database_url(pg_admin_url: str) -> Iterator[str]:
    """A second fresh database: another tenant's."""
    with fresh_database(pg_admin_url) as url:
        yield url


def _backends(admin_url: str, database_url: str, *, but: int | None = None) -> int:
    """Connections to the database of `database_url` (other than the backend `but`)."""
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid IS DISTINCT FROM %s",
            (name, but),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def _until(check: Callable[[], bool], timeout: float = 10) -> None:
    """Until the server shows what `check` asks (it has no event to wait on), or TimeoutError."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - pg_stat_activity is polled, nothing signals
            await asyncio.sleep(0.05)


async def test_a_database_whose_migration_hangs_holds_up_no_other_resource_and_fails_in_time(
    database_url: str, other_database_url: str, pg_admin_url: str
) -> None:
    pools = Pools(max_size=2, migrate_seconds=3)
    holder = await psycopg.AsyncConnection.connect(database_url)  # tenant A's own session
    try:
        await holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        hung = asyncio.create_task(pools.get(database_url))
        # until A's pool is connected and its migration waits for the lock
        await _until(lambda: _backends(pg_admin_url, database_url, but=holder.pgconn.backend_pid) > 0)
        # Tenant B's database opens and migrates while A's migration still waits: the lock around
        # opening was one for every database, held across A's migration for as long as it hung.
        async with asyncio.timeout(20):
            other = await pools.get(other_database_url)
        assert not hung.done()
        async with other.connection() as conn:
            assert (await (await conn.execute("SELECT count(*) FROM schema_migrations")).fetchone()) != (0,)

        # A's migration is bounded: a problem the status shows, and its pool's connections closed.
        with pytest.raises(Problem) as info:
            async with asyncio.timeout(20):
                await hung
        assert info.value.reason == "DatabaseUnavailable"
        assert "migrat" in info.value.message
        # the server ends the backend once the client has gone
        await _until(lambda: _backends(pg_admin_url, database_url, but=holder.pgconn.backend_pid) == 0)
    finally:
        await holder.close()
        await pools.close()


async def test_a_database_that_refuses_the_migration_leaves_no_pool_open(
    database_url: str, pg_admin_url: str
) -> None:
    role = f"r_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')  # may not create tables in public (PostgreSQL 15+)
    limited = psycopg.conninfo.make_conninfo(database_url, user=role)
    pools = Pools(max_size=2)
    try:
        for _ in range(3):  # each retry of the resource's pass
            with pytest.raises(Problem) as info:
                await pools.get(limited)
            assert info.value.reason == "DatabaseUnavailable"
        # Each failed attempt had left its pool open, connected and maintained: a resource retrying
        # with backoff added one for ever.
        assert _backends(pg_admin_url, database_url) == 0
    finally:
        await pools.close()
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
