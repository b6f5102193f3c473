"""A run's heartbeat: its owner renews the run's lease in PostgreSQL while it drives the run.

The CLI and the operator both hold their run this way. A run whose owner died stops being renewed,
and the next starter of its scope takes it over (`store/runs.py`) instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from employes_sync.messages import one_line
from employes_sync.store import runs as runs_store

log = logging.getLogger(__name__)


async def keep_run(
    pool: AsyncConnectionPool, run_id: int, owner: runs_store.Owner, lease_seconds: float
) -> None:
    """Renew the run's heartbeat every third of its lease; return when the run is no longer ours.

    A database that misses one beat is not the end: the lease is three beats long, and the driver
    has its own patience for outages.
    """
    while True:
        await asyncio.sleep(lease_seconds / 3)
        try:
            if not await runs_store.renew(pool, run_id, owner, lease_seconds):
                log.warning("run %d is no longer ours (finished or taken over): heartbeat stops", run_id)
                return
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("heartbeat of run %d failed: %s", run_id, one_line(exc))
