"""One connection pool per database, migrated once, shared by every resource that uses it.

Every store call holds a connection for one statement only, and callers wait for a free one in
arrival order (psycopg's pool is first come, first served), so 200 concurrent inline parts share
`max_size` connections without one of them starving; the benchmark in bench/bench_scale.py counts
the connections the operator holds at 200 resources.
"""

from __future__ import annotations

import asyncio
import hashlib

import psycopg
from psycopg_pool import AsyncConnectionPool

from employes_sync.kube.problem import Problem
from employes_sync.messages import one_line
from employes_sync.store import db

#: Connections per database: enough for many resources' statements at once, few enough for any server.
DEFAULT_POOL_SIZE = 10
#: How long a statement may wait for a free connection. With 200 inline parts starting at once on a
#: loaded machine, 12 passes waited more than the former 10 s and were reported as DatabaseUnavailable
#: (bench/bench_scale.py); a wait of a burst is not an outage, which the connect timeout still tells.
POOL_WAIT_SECONDS = 60.0


#: How long a new pool's migrations may take. They are quick; what takes longer is a database that never
#: answers or a session holding the migration lock, both of which a resource's author can arrange.
MIGRATE_SECONDS = 60.0


class Pools:
    """Pools keyed by the DSN's hash, so the DSN (with its password) is not kept as a key.

    Every resource of the operator asks here, and a resource's author runs the database its DSN names:
    opening one pool waits for nothing but that pool's own database (a lock per DSN, not one for all),
    and its migration is bounded, so a database that hangs holds up only the resources that use it.
    """

    def __init__(
        self, max_size: int = DEFAULT_POOL_SIZE, *, migrate_seconds: float = MIGRATE_SECONDS
    ) -> None:
        self.max_size = max_size
        self.migrate_seconds = migrate_seconds
        self._pools: dict[str, AsyncConnectionPool] = {}
        self._opening: dict[str, asyncio.Lock] = {}

    async def get(self, dsn: str) -> AsyncConnectionPool:
        key = hashlib.sha256(dsn.encode()).hexdigest()
        async with self._opening.setdefault(key, asyncio.Lock()):
            pool = self._pools.get(key)
            if pool is not None:
                return pool
            pool = await self._open(dsn)
            self._pools[key] = pool
            return pool

    async def _open(self, dsn: str) -> AsyncConnectionPool:
        """A connected, migrated pool, or a Problem; a pool that fails its migration is closed, not left
        connected and maintained for every retry of the resource."""
        try:
            pool = await db.open_pool(dsn, max_size=self.max_size, wait_timeout=POOL_WAIT_SECONDS)
        except db.DatabaseUnavailable as exc:
            raise Problem("DatabaseUnavailable", str(exc)) from None
        try:
            async with asyncio.timeout(self.migrate_seconds):
                await db.migrate_dsn(dsn)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, TimeoutError):
                raise Problem(
                    "DatabaseUnavailable",
                    f"database at {db.redact_dsn(dsn)}: its schema migrations did not finish within "
                    f"{self.migrate_seconds:g} s (another session may hold the migration lock)",
                ) from None
            if isinstance(exc, psycopg.Error):
                raise Problem(
                    "DatabaseUnavailable",
                    f"database at {db.redact_dsn(dsn)}: its schema could not be migrated: {one_line(exc)}",
                ) from None
            raise
        return pool

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
