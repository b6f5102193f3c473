"""One connection pool per database, migrated once, shared by every resource that uses it.

Every store call holds a connection for one statement only, and callers wait for a free one in
arrival order (psycopg's pool is first come, first served), so 200 concurrent inline parts share
`max_size` connections without one of them starving; the benchmark in bench/bench_scale.py counts
the connections the operator holds at 200 resources.
"""

from __future__ import annotations

import asyncio
import hashlib

from psycopg_pool import AsyncConnectionPool

from employes_sync.kube.problem import Problem
from employes_sync.store import db

#: Connections per database: enough for many resources' statements at once, few enough for any server.
DEFAULT_POOL_SIZE = 10
#: How long a statement may wait for a free connection. With 200 inline parts starting at once on a
#: loaded machine, 12 passes waited more than the former 10 s and were reported as DatabaseUnavailable
#: (bench/bench_scale.py); a wait of a burst is not an outage, which the connect timeout still tells.
POOL_WAIT_SECONDS = 60.0


class Pools:
    """Pools keyed by the DSN's hash, so the DSN (with its password) is not kept as a key."""

    def __init__(self, max_size: int = DEFAULT_POOL_SIZE) -> None:
        self.max_size = max_size
        self._pools: dict[str, AsyncConnectionPool] = {}
        self._lock = asyncio.Lock()

    async def get(self, dsn: str) -> AsyncConnectionPool:
        key = hashlib.sha256(dsn.encode()).hexdigest()
        async with self._lock:
            pool = self._pools.get(key)
            if pool is not None:
                return pool
            try:
                pool = await db.open_pool(dsn, max_size=self.max_size, wait_timeout=POOL_WAIT_SECONDS)
                await db.migrate(pool)
            except db.DatabaseUnavailable as exc:
                raise Problem("DatabaseUnavailable", str(exc)) from None
            self._pools[key] = pool
            return pool

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
