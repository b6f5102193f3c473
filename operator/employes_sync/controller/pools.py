"""One connection pool per database, migrated once, shared by every resource that uses it."""

from __future__ import annotations

import asyncio
import hashlib

from psycopg_pool import AsyncConnectionPool

from employes_sync.kube.problem import Problem
from employes_sync.store import db


class Pools:
    """Pools keyed by the DSN's hash, so the DSN (with its password) is not kept as a key."""

    def __init__(self) -> None:
        self._pools: dict[str, AsyncConnectionPool] = {}
        self._lock = asyncio.Lock()

    async def get(self, dsn: str) -> AsyncConnectionPool:
        key = hashlib.sha256(dsn.encode()).hexdigest()
        async with self._lock:
            pool = self._pools.get(key)
            if pool is not None:
                return pool
            try:
                pool = await db.open_pool(dsn, max_size=4)
                await db.migrate(pool)
            except db.DatabaseUnavailable as exc:
                raise Problem("DatabaseUnavailable", str(exc)) from None
            self._pools[key] = pool
            return pool

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
