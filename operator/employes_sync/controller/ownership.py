"""Who drives a scope's run: adopting ours or an expired one, coalescing with a live owner's, and
renewing the lease of the run being driven.

One run per scope is enforced by PostgreSQL (store/runs.py); this is the operator's side of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from employes_sync.controller.resource import Resource
from employes_sync.kube import status
from employes_sync.store import runs as runs_store


def until_lease_ends(expires_at: datetime | None, lease_seconds: float, now: datetime | None = None) -> float:
    """How long to wait before looking at another owner's run again: until its lease runs out.

    Waiting a whole lease instead would add up to one more lease to a failover (the standby finds the
    dead replica's run a moment before its lease ends, and then slept another 20 s).
    """
    if expires_at is None:
        return lease_seconds
    left = (expires_at - (now or datetime.now(UTC))).total_seconds()
    return min(lease_seconds, max(0.5, left + 0.5))


class Ownership:
    """The run ownership of one resource; `sleep` is its reconciler's wait (woken by changes)."""

    def __init__(self, resource: Resource, sleep: Callable[[float], Awaitable[None]]):
        self.resource = resource
        self.sleep = sleep
        self.beat: asyncio.Future[None] | None = None  # the lease of the run being driven (holding())

    def lost(self) -> bool:
        """The lease of the run being driven stopped being renewed: the run is no longer ours."""
        return self.beat is not None and self.beat.done()

    async def take(self, pool: AsyncConnectionPool, row: Mapping[str, Any]) -> bool:
        """Become the owner of the scope's running run, or coalesce while another live owner drives it.

        Ours (this replica, restarted) or expired: adopted and resumed. Driven by a live owner (the
        other replica during an upgrade, another operator on the same database): nothing starts here;
        the request stays wanted and is looked at again when that run ends or its lease runs out.
        """
        resource = self.resource
        run_id = int(row["id"])
        config = resource.ctx.config
        if await runs_store.adopt(pool, run_id, config.owner, config.run_lease_seconds):
            if row.get("owner_id") not in (None, config.owner.id):
                resource.logger.info(
                    "run %d of %s taken over from %s", run_id, resource.scope, row.get("owner")
                )
            return True
        message = (
            f"run {run_id} of {resource.scope} is being driven by {row.get('owner') or 'another owner'}; "
            "a sync requested meanwhile follows it"
        )
        shown = status.get_condition(resource.status.get("conditions") or [], status.PROGRESSING) or {}
        if (shown.get("reason"), shown.get("message")) != ("RunElsewhere", message):  # our patch wakes us
            await resource.patch({}, progressing=(True, "RunElsewhere", message))
            resource.event("Normal", "RunElsewhere", message)
        await self.sleep(until_lease_ends(row.get("heartbeat_expires_at"), config.run_lease_seconds))
        return False

    @contextlib.asynccontextmanager
    async def holding(self, pool: AsyncConnectionPool, run_id: int) -> AsyncIterator[asyncio.Future[None]]:
        """Renew the run's lease while the block runs (the replica's one heartbeat on that database);
        the future is done if the run stops being ours."""
        async with self.resource.ctx.heartbeat(pool).holding(run_id) as beat:
            self.beat = beat
            try:
                yield beat
            finally:
                self.beat = None
