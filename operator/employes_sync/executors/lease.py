"""A run's heartbeat: its owner renews the run's lease in PostgreSQL while it drives the run.

The CLI and the operator both hold their run this way. A run whose owner died stops being renewed,
and the next starter of its scope takes it over (`store/runs.py`) instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from employes_sync.messages import one_line
from employes_sync.store import runs as runs_store

log = logging.getLogger(__name__)


class Heartbeat:
    """The leases of every run one owner drives on one database, renewed together by one statement.

    An operator drives a run per resource. With a beat of its own, each run was a statement and a
    pooled connection every third of a lease: at 200 running resources and a 20 s lease, 30 a second,
    taking connections from the runs' own statements. One beat renews them all, whatever their number.
    A run joins at the next beat, which is never later than its own first beat would have been.
    """

    def __init__(self, pool: AsyncConnectionPool, owner: runs_store.Owner, lease_seconds: float) -> None:
        self.pool = pool
        self.owner = owner
        self.lease_seconds = lease_seconds
        #: run id -> (done when the run is no longer ours, how many holders). Two at once is rare but
        #: real: a resource re-created while its old reconciler is still being cancelled adopts the
        #: same run (it is ours), and the old one's letting go must not end the new one's lease.
        self._held: dict[int, tuple[asyncio.Future[None], int]] = {}
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def holding(self, run_id: int) -> AsyncIterator[asyncio.Future[None]]:
        """Renew the run's lease while the block runs; the future is done when the run stops being ours."""
        lost, holders = self._held.get(run_id) or (asyncio.get_running_loop().create_future(), 0)
        self._held[run_id] = (lost, holders + 1)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._beat(), name=f"heartbeat of {self.owner.name}")
        try:
            yield lost
        finally:
            self._release(run_id)

    def _release(self, run_id: int) -> None:
        lost, holders = self._held[run_id]
        if holders > 1:
            self._held[run_id] = (lost, holders - 1)
            return
        del self._held[run_id]
        if not self._held and self._task is not None:
            self._task.cancel()  # the beat has nothing left to renew; the next holder starts one
            self._task = None

    async def _beat(self) -> None:
        """Renew every third of the lease. A database that misses one beat is not the end: the lease
        is three beats long, and the drivers have their own patience for outages. Any other error
        ends the beat, and every run held is told it is lost: driving on without a lease would let
        another starter take the run over under it."""
        try:
            await self._renew_while_held()
        except Exception:
            log.exception("the heartbeat of %d run(s) stopped; they are given up", len(self._held))
            for lost, _ in self._held.values():
                if not lost.done():
                    lost.set_result(None)

    async def _renew_while_held(self) -> None:
        while self._held:
            await asyncio.sleep(self.lease_seconds / 3)
            run_ids = [run_id for run_id, (lost, _) in self._held.items() if not lost.done()]
            if not run_ids:
                continue  # every run held is lost already; its holder has yet to let go
            try:
                ours = await runs_store.renew_all(self.pool, run_ids, self.owner, self.lease_seconds)
            except (psycopg.Error, PoolTimeout) as exc:
                log.warning("heartbeat of %d run(s) failed: %s", len(run_ids), one_line(exc))
                continue
            for run_id in run_ids:
                held = self._held.get(run_id)  # let go of while the statement ran: None
                if run_id not in ours and held is not None and not held[0].done():
                    log.warning("run %d is no longer ours (finished or taken over): heartbeat stops", run_id)
                    held[0].set_result(None)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
