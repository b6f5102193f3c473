"""Connecting to PostgreSQL and bringing its schema up to date.

A pool is only handed out after one connection has worked, so a wrong DSN fails at start with one
clear line instead of later inside a run; that line never carries the password.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from dataclasses import dataclass
from importlib import resources
from typing import Any, LiteralString, cast

import psycopg
from psycopg import pq
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from ..dsn import OPERATOR_DEFAULTS_OFF, DsnInvalid, parse_dsn
from .queries import Q

log = logging.getLogger(__name__)

# Any constant works as long as every migrator uses the same one: "esyncmig" in ASCII.
MIGRATION_LOCK_KEY = 0x6573796E636D6967


def _secret_params() -> frozenset[str]:
    """The connection parameters libpq itself hides: '*' (a password) and 'D' (not to be shown).

    Asked of the libpq in use rather than listed here: libpq 18 added `oauth_client_secret` and the
    SCRAM keys, each as good as the password, and a newer libpq may add more.
    """
    hidden = {
        option.keyword.decode() for option in pq.Conninfo.get_defaults() if option.dispchar in (b"*", b"D")
    }
    return frozenset(hidden | {"password", "sslpassword"})


SECRET_PARAMS = _secret_params()
_MIGRATION_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


class DatabaseUnavailable(Exception):
    """The database cannot be reached or used; the message is safe to log and show."""


def redact_dsn(dsn: str) -> str:
    """The DSN as a key=value string with every secret replaced, for messages and logs.

    A DSN that cannot be used as written is not shown at all: its host or database may be a piece of
    the password (`dsn.parse_dsn`).
    """
    try:
        return _redacted(parse_dsn(dsn))
    except DsnInvalid:
        return "<unusable dsn>"


def _redacted(params: dict[str, str]) -> str:
    """Empty values and what `dsn.for_resource` set are left out: they say nothing the reader wrote."""
    shown = {k: v for k, v in params.items() if v and OPERATOR_DEFAULTS_OFF.get(k) != v}
    return make_conninfo("", **{key: "***" if key in SECRET_PARAMS else v for key, v in shown.items()})


def _scrub(message: str, dsn: str) -> str:
    """Remove the DSN and any password from a driver message (belt and braces: libpq omits them)."""
    try:
        secrets = [v for k, v in parse_dsn(dsn).items() if k in SECRET_PARAMS and v]
    except DsnInvalid:
        # An unparseable DSN may echo itself in the error: say nothing of it.
        return "invalid connection string"
    for secret in [dsn, *secrets]:
        message = message.replace(secret, "***")
    return " ".join(message.split())


async def check_connection(dsn: str, timeout: float = 10) -> None:
    """Open one connection and run a trivial query, or raise DatabaseUnavailable within the timeout.

    A DSN libpq would misread is refused before dialling: it would connect wherever the password's
    pieces point.
    """
    try:
        where = _redacted(parse_dsn(dsn))
    except DsnInvalid as exc:
        raise DatabaseUnavailable(f"the database DSN {exc}; no connection was made") from None
    try:
        async with asyncio.timeout(timeout):
            conn = await psycopg.AsyncConnection.connect(dsn, connect_timeout=max(1, int(timeout)))
            async with conn:
                await conn.execute(Q.ping)
    except TimeoutError:
        raise DatabaseUnavailable(f"database unreachable at {where}: no answer within {timeout:g}s") from None
    except psycopg.Error as exc:
        raise DatabaseUnavailable(f"database unreachable at {where}: {_scrub(str(exc), dsn)}") from None


#: A connection given back to the pool less than this long ago was alive then, so handing it out again
#: skips the pool's liveness check (one more round trip). At 200 idle resources the checks were a
#: third of the operator's statements; a connection unused for longer (after a database restart,
#: say) is still checked before use.
RECENTLY_USED_SECONDS = 1.0


class _LivenessCheck:
    """The pool's `check` and `reset` callbacks: check only connections not used a moment ago."""

    def __init__(self) -> None:
        self._returned: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    async def returned(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._returned[conn] = time.monotonic()

    async def check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        at = self._returned.pop(conn, None)
        if at is not None and time.monotonic() - at < RECENTLY_USED_SECONDS and not conn.closed:
            return
        await AsyncConnectionPool.check_connection(conn)


async def open_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 4, timeout: float = 10, wait_timeout: float | None = None
) -> AsyncConnectionPool:
    """An opened pool whose database answered; raises DatabaseUnavailable (password-free) otherwise.

    `timeout` bounds connecting; `wait_timeout` (default: the same) how long a caller may wait for a
    free connection of the pool, which a busy burst of many callers can need more of than a connect.
    """
    await check_connection(dsn, timeout)
    liveness = _LivenessCheck()
    pool = AsyncConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout if wait_timeout is None else wait_timeout,
        open=False,
        check=liveness.check,
        reset=liveness.returned,
        name="employes-sync",
        # Every store call is one statement, whole or nothing by itself; autocommit spares each one a
        # BEGIN and a COMMIT round trip. Migrations open their own transaction.
        kwargs={"autocommit": True},
    )
    try:
        await pool.open(wait=True, timeout=timeout)
    except Exception as exc:
        await pool.close()
        raise DatabaseUnavailable(
            f"database unreachable at {redact_dsn(dsn)}: {_scrub(str(exc), dsn)}"
        ) from None
    return pool


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The packaged migrations in version order; a gap or duplicate is a packaging bug, so it raises."""
    found: list[Migration] = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["name"], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..n: {[m.version for m in found]}")
    return found


async def migrate(pool: AsyncConnectionPool) -> list[int]:
    """Apply pending migrations in one transaction under an advisory lock; returns the versions applied.

    The lock makes a second migrator wait and then find nothing left to do, so any number of operators
    and workers may call this at start.
    """
    async with pool.connection() as conn:
        return await migrate_connection(conn)


async def migrate_dsn(dsn: str, *, connect_timeout: float = 10) -> list[int]:
    """`migrate` on a connection of its own, closed when the migration ends, however it ends.

    For a migration that may be cut short (the operator bounds it): a pool's connection goes back
    through the pool's workers, and one coming back while its pool closes was left open, its server
    backend idle for good.
    """
    conn = await psycopg.AsyncConnection.connect(dsn, connect_timeout=max(1, int(connect_timeout)))
    try:
        return await migrate_connection(conn)
    finally:
        await conn.close()


async def migrate_connection(conn: psycopg.AsyncConnection[Any]) -> list[int]:
    """`migrate` on the connection given: the migrations are one transaction on it."""
    applied_now: list[int] = []
    async with conn.transaction():
        await conn.execute(Q.lock_migrations, {"lock_key": MIGRATION_LOCK_KEY})
        await conn.execute(Q.create_schema_migrations)
        cur = await conn.execute(Q.applied_migrations)
        done = {row[0] for row in await cur.fetchall()}
        for migration in migrations():
            if migration.version in done:
                continue
            # Packaged files, not input: executed as written, without parameters. The cast marks it as
            # a literal for readers and for tests/reliability/test_security.py; mypy sees str either way.
            await conn.execute(cast(LiteralString, migration.sql))  # type: ignore[redundant-cast]
            await conn.execute(Q.record_migration, {"version": migration.version, "name": migration.name})
            applied_now.append(migration.version)
    if applied_now:
        log.info("applied migrations %s", applied_now)
    return applied_now
