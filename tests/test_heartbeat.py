"""The run heartbeat (executors/lease.py): one statement renews every run an owner holds on a database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from employes_sync.executors.lease import Heartbeat
from employes_sync.store import runs

LEASE = 0.6  # a beat every 0.2 s


async def _heartbeats(pool: AsyncConnectionPool, *run_ids: int) -> list[datetime]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT heartbeat_at FROM sync_runs WHERE id = ANY(%s) ORDER BY id", (list(run_ids),)
        )
        return [row[0] for row in await cur.fetchall()]


async def _until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Ask the database again and again until the condition holds (the beat is another task)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)  # the rows are written by another task


async def _claim(pool: AsyncConnectionPool, scope: str, owner: runs.Owner) -> int:
    claimed = await runs.claim_run(
        pool, scope, "c", "created", "background", owner=owner, lease_seconds=LEASE
    )
    return claimed.run_id


async def test_one_statement_renews_every_run_held_and_a_run_taken_over_is_told(
    store_pool: AsyncConnectionPool,
) -> None:
    owner = runs.Owner("operator@pod-a", "pod pod-a")
    a, b = await _claim(store_pool, "ns/a", owner), await _claim(store_pool, "ns/b", owner)
    started = await _heartbeats(store_pool, a, b)
    beat = Heartbeat(store_pool, owner, LEASE)
    async with beat.holding(a) as lost_a, beat.holding(b) as lost_b:

        async def renewed() -> bool:
            now = await _heartbeats(store_pool, a, b)
            return all(n > s for n, s in zip(now, started, strict=True))

        await _until(renewed)
        first, second = await _heartbeats(store_pool, a, b)
        # one statement: both rows carry its transaction's now(); a beat per run would differ
        assert first == second

        async with store_pool.connection() as conn:  # another owner takes b over
            await conn.execute("UPDATE sync_runs SET owner_id = 'operator@pod-b' WHERE id = %s", (b,))

        async def told() -> bool:
            return lost_b.done()

        await _until(told)
        assert not lost_a.done()
        taken = (await _heartbeats(store_pool, b))[0]

        async def a_renewed_again() -> bool:
            return (await _heartbeats(store_pool, a))[0] > taken

        await _until(a_renewed_again)
        assert (await _heartbeats(store_pool, b))[0] == taken  # not renewed once it was not ours
    # the last run let go of: no beat left running, and a new holder starts one again
    assert beat._task is None
    async with beat.holding(a) as lost:
        assert beat._task is not None and not beat._task.done() and not lost.done()
    assert beat._task is None


async def test_a_run_that_finishes_while_held_is_lost_and_the_others_keep_their_lease(
    store_pool: AsyncConnectionPool,
) -> None:
    owner = runs.Owner("operator@pod-a", "pod pod-a")
    a, b = await _claim(store_pool, "ns/a", owner), await _claim(store_pool, "ns/b", owner)
    beat = Heartbeat(store_pool, owner, LEASE)
    async with beat.holding(a) as lost_a:
        async with beat.holding(b) as lost_b:
            await runs.finish_run(store_pool, b, "succeeded", {}, None)

            async def told() -> bool:
                return lost_b.done()

            await _until(told)
        assert not lost_a.done()
        # a keeps being renewed, beat after beat, past its lease
        for _ in range(3):
            before = (await _heartbeats(store_pool, a))[0]

            async def renewed(before: datetime = before) -> bool:
                return (await _heartbeats(store_pool, a))[0] > before

            await _until(renewed)
    await beat.close()
